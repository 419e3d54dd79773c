"""Reais: formatting the Brazilian way and finding the amount in owners' messages."""

from decimal import Decimal

import pytest

from nodes.money import find_brl_amount, format_brl, parse_brl_amount


def test_format_uses_dot_for_thousands_and_comma_for_cents():
    assert format_brl(Decimal("1234.56")) == "R$ 1.234,56"


def test_format_puts_the_minus_sign_before_the_currency():
    assert format_brl(Decimal("-1234.56")) == "-R$ 1.234,56"


def test_format_rounds_half_cents_up():
    assert format_brl(Decimal("0.005")) == "R$ 0,01"
    assert format_brl(Decimal("-1234.565")) == "-R$ 1.234,57"


def test_format_shows_millions_and_zero():
    assert format_brl(Decimal("1000000")) == "R$ 1.000.000,00"
    assert format_brl(Decimal("0")) == "R$ 0,00"


def test_format_never_prints_negative_zero():
    assert format_brl(Decimal("-0.001")) == "R$ 0,00"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("R$ 1.500", "1500.00"),
        ("1.500,50", "1500.50"),
        ("1500", "1500.00"),
        ("R$1.500,00", "1500.00"),
        ("1,5 mil", "1500.00"),
        ("2 mil", "2000.00"),
        ("350 reais", "350.00"),
        ("R$ 80,90", "80.90"),
        ("10.000,00", "10000.00"),
        ("1,5", "1.50"),
        ("10k", "10000.00"),
    ],
)
def test_parses_the_ways_owners_write_amounts(text, expected):
    assert parse_brl_amount(text) == Decimal(expected)


def test_dot_followed_by_three_digits_is_thousands_not_decimals():
    assert parse_brl_amount("vendi 1.500 hoje") == Decimal("1500.00")


def test_dot_followed_by_two_digits_is_cents():
    assert parse_brl_amount("R$ 1500.50") == Decimal("1500.50")


def test_amount_is_a_decimal_never_a_float():
    assert isinstance(parse_brl_amount("R$ 80,90"), Decimal)


def test_dates_are_not_amounts():
    assert parse_brl_amount("paguei 120 de gás dia 28/11") == Decimal("120.00")
    assert parse_brl_amount("vence 30/11/2026") is None


def test_times_and_hours_are_not_amounts():
    assert parse_brl_amount("estagiária pode fazer 8h?") is None
    assert parse_brl_amount("reunião às 14:30") is None


def test_percentages_are_not_amounts():
    assert parse_brl_amount("dei 10% de desconto") is None


def test_months_and_ordinals_are_not_amounts():
    assert parse_brl_amount("13º de quem ganha 2.000 e trabalhou 7 meses") == Decimal("2000.00")


def test_marked_amount_wins_over_bare_numbers():
    assert parse_brl_amount("vendi 3 kits de R$ 45,00") == Decimal("45.00")


def test_among_bare_numbers_the_price_wins_over_the_quantity():
    assert parse_brl_amount("vendi 10 camisetas por 500") == Decimal("500.00")


def test_message_without_amount_gives_none():
    assert parse_brl_amount("qual meu saldo?") is None


def test_find_reports_where_the_amount_sits():
    message = "lança R$ 1.500,00 de venda"
    match = find_brl_amount(message)
    assert match is not None
    assert message[match.start : match.end] == "R$ 1.500,00"
