"""Reading reais from Portuguese: what counts as money and what never does."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from finance.amounts import find_amount, find_amounts, format_brl, parse_amount


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("R$ 1.500,00", "1500"),
        ("1500", "1500"),
        ("1.500", "1500"),
        ("1,5 mil", "1500"),
        ("500 reais", "500"),
        ("R$1.234,56", "1234.56"),
        ("dois mil", "2000"),
        ("mil e duzentos", "1200"),
        ("dois mil e quinhentos", "2500"),
        ("3 mil", "3000"),
        ("1.2 mil", "1200"),
        ("2 mil e 500", "2500"),
        ("vinte e cinco reais", "25"),
        ("cento e cinquenta reais", "150"),
        ("um milhão e duzentos mil", "1200000"),
        ("10k", "10000"),
        ("2 reais e 50 centavos", "2.50"),
        ("R$ 1500.50", "1500.50"),
        ("paguei quinhentos de luz", "500"),
    ],
)
def test_reads_the_ways_owners_write_amounts(text, expected):
    assert parse_amount(text) == Decimal(expected)


@pytest.mark.parametrize(
    "text",
    [
        "meu CPF é 123.456.789-09, registrar uma despesa",
        "meu cpf 12345678909",
        "CNPJ 12.345.678/0001-95",
        "CNPJ 12.ABC.345/01DE-35",
        "me liga (11) 99999-8888",
        "whats 11 99999-8888",
        "+55 81 98888-7777",
        "pedido 12345",
        "pedido nº 555",
        "#123",
        "vence 30/11/2026",
        "até 30/11",
        "reunião às 14:30",
        "chego 14h30",
        "dei 10% de desconto",
        "juros de 2,5 por cento",
        "CEP 50030-230",
        "dia 5 de dezembro",
        "em novembro de 2026",
        "vendi um bolo",
        "trabalhou 7 meses",
    ],
)
def test_identifiers_dates_times_and_counts_are_never_amounts(text):
    assert find_amounts(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("paguei os 500 reais do aluguel", "500"),
        ("paguei o boleto 150", "150"),
        ("agência 1234 conta 56789-0, paguei 80", "80"),
        ("nota fiscal 3321 de 45,90", "45.90"),
    ],
)
def test_words_near_identifiers_do_not_hide_money(text, expected):
    assert parse_amount(text) == Decimal(expected)


def test_a_phone_after_no_is_not_split_into_amounts():
    assert find_amounts("me liga no 11 99999 9999") == []


def test_the_amount_is_found_beside_a_cpf():
    assert parse_amount("meu CPF é 123.456.789-09, registra despesa de R$ 80") == Decimal(80)


def test_an_order_number_does_not_hide_the_price():
    assert parse_amount("pedido 12345 saiu por 89,90") == Decimal("89.90")


def test_marked_amount_wins_over_bare_numbers():
    assert parse_amount("vendi 3 kits de R$ 45,00") == Decimal(45)


def test_among_bare_numbers_the_price_wins_over_the_quantity():
    assert parse_amount("vendi 10 camisetas por 500") == Decimal(500)


def test_a_day_after_the_amount_is_not_a_unit():
    assert parse_amount("paguei o aluguel de 2.500 dia 5") == Decimal(2500)


def test_two_amounts_are_both_found_in_order():
    text = "faturei 30 mil, anexo III, 360 mil nos últimos 12 meses"
    assert [m.value for m in find_amounts(text)] == [Decimal(30000), Decimal(360000)]


def test_match_reports_where_the_amount_sits():
    message = "lança R$ 1.500,00 de venda"
    match = find_amount(message)
    assert match is not None
    assert message[match.start : match.end] == "R$ 1.500,00"


def test_format_uses_dot_for_thousands_and_comma_for_cents():
    assert format_brl(Decimal("1234.56")) == "R$ 1.234,56"
    assert format_brl(Decimal("-0.001")) == "R$ 0,00"


# Property-based: every amount written the Brazilian way reads back as itself.
cents = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999999.99"), places=2)


@given(cents)
def test_formatted_amount_reads_back(value):
    assert parse_amount(format_brl(value)) == value


@given(cents)
def test_formatted_amount_reads_back_inside_a_sentence(value):
    assert parse_amount(f"registra receita de {format_brl(value)} hoje") == value


def _cpf(base: list[int]) -> str:
    """A valid CPF built from its definition (weights 10..2, then 11..2; 0 if the rest < 2)."""
    digits = list(base)
    for weights in (range(10, 1, -1), range(11, 1, -1)):
        rest = sum(d * w for d, w in zip(digits, weights, strict=False)) % 11
        digits.append(0 if rest < 2 else 11 - rest)
    return "".join(map(str, digits))


cpfs = st.lists(st.integers(0, 9), min_size=9, max_size=9).map(_cpf)
cpf_written = st.one_of(
    cpfs, cpfs.map(lambda c: f"{c[:3]}.{c[3:6]}.{c[6:9]}-{c[9:]}")
)  # both ways owners type it
ddd = st.integers(11, 99).map(str)
mobile = st.integers(10_000_000, 99_999_999).map(lambda n: f"9{n}")
phones = st.builds(
    lambda d, m, style: [
        f"({d}) {m[:5]}-{m[5:]}",
        f"{d} {m[:5]}-{m[5:]}",
        f"{d}{m}",
        f"+55 {d} {m[:5]}-{m[5:]}",
        f"+55{d}{m}",
        f"{m[:5]}-{m[5:]}",
        f"{d} {m[:5]} {m[5:]}",
    ][style],
    ddd,
    mobile,
    st.integers(0, 6),
)
prefixes = st.sampled_from(
    ["meu CPF é", "cpf", "telefone", "me liga no", "contato:", "", "nº", "dia", "pedido"]
)
suffixes = st.sampled_from(["", ", obrigado", " e registra uma despesa", "."])


@given(prefixes, st.one_of(cpf_written, phones), suffixes)
def test_a_cpf_or_phone_in_a_sentence_is_never_an_amount(prefix, identifier, suffix):
    assert find_amounts(f"{prefix} {identifier}{suffix}") == []


@given(st.one_of(cpf_written, phones), cents)
def test_the_real_amount_survives_next_to_an_identifier(identifier, value):
    text = f"cliente {identifier} pagou {format_brl(value)}"
    assert [m.value for m in find_amounts(text)] == [value]


# Property-based: amounts written out in words read back as their value.
_UNITS = (
    "zero um dois três quatro cinco seis sete oito nove dez onze doze treze quatorze quinze "
    "dezesseis dezessete dezoito dezenove"
).split()
_TENS = "_ _ vinte trinta quarenta cinquenta sessenta setenta oitenta noventa".split()
_HUNDREDS = (
    "_ cento duzentos trezentos quatrocentos quinhentos seiscentos setecentos oitocentos novecentos"
).split()


def _below_thousand(n: int) -> str:
    """1..999 as written in Portuguese: 'cento e vinte e três', 'cem', 'quarenta'."""
    if n == 100:
        return "cem"
    hundreds, rest = divmod(n, 100)
    parts = [_HUNDREDS[hundreds]] if hundreds else []
    if rest:
        if rest < 20:
            parts.append(_UNITS[rest])
        else:
            tens, units = divmod(rest, 10)
            parts.append(_TENS[tens] + (f" e {_UNITS[units]}" if units else ""))
    return " e ".join(parts)


def spell(n: int) -> str:
    """1..999.999 in words; 'e' after 'mil' only before a round hundred or less than 100."""
    thousands, rest = divmod(n, 1000)
    head = "" if not thousands else "mil" if thousands == 1 else f"{_below_thousand(thousands)} mil"
    if not rest:
        return head
    if not head:
        return _below_thousand(rest)
    joiner = " e " if rest < 100 or rest % 100 == 0 else " "
    return head + joiner + _below_thousand(rest)


def test_the_speller_writes_as_people_do():
    assert spell(123456) == "cento e vinte e três mil quatrocentos e cinquenta e seis"
    assert spell(1200) == "mil e duzentos"
    assert spell(2500) == "dois mil e quinhentos"


@given(st.integers(1, 999_999))
def test_amounts_in_words_read_back(n):
    assert parse_amount(f"recebi {spell(n)} reais") == Decimal(n)
