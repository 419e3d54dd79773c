"""The id rule (core/ids.py) on its own: what it accepts, what it refuses and why."""

from __future__ import annotations

import pytest

from core.ids import MAX_ID_CHARS, InvalidId, check_id, parse_fact_id


@pytest.mark.parametrize(
    "value",
    ["padaria-1", "5511987654321", "ana@web", "a.b", "Conversa 1", "ação", "x" * MAX_ID_CHARS],
)
def test_valid_ids_pass_unchanged(value: str) -> None:
    assert check_id(value, "user_id") == value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "vazio"),
        ("x" * (MAX_ID_CHARS + 1), "limite é 128"),
        ("a\x00b", "controle"),
        ("a\nb", "controle"),
        ("a\r\nb", "controle"),
        ("\x1b[31mred\x1b[0m", "controle"),
        ("a\u202eb", "controle"),  # right-to-left override: renders a different id
        ("a\u2028b", "controle"),  # line separator
        ("a\x7fb", "controle"),
        (" padaria", "espaço"),
        ("padaria\t", "controle"),
        ("padaria ", "espaço"),
        ("..", "'..'"),
        ("a/../b", "'..'"),
    ],
)
def test_invalid_ids_say_why_in_portuguese(value: str, reason: str) -> None:
    with pytest.raises(InvalidId) as caught:
        check_id(value, "user_id")
    assert caught.value.field == "user_id"
    assert caught.value.message.startswith("O identificador 'user_id' é inválido: ")
    assert reason in caught.value.message


def test_a_non_string_is_refused() -> None:
    with pytest.raises(InvalidId):
        check_id(42, "thread_id")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", 1), ("007", 7), ("9" * 18, 10**18 - 1)],
)
def test_fact_ids_parse_within_int64(raw: str, expected: int) -> None:
    assert parse_fact_id(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "²", "٣", "1²", "-1", "+1", " 1", "1 ", "1.0", "0x10", "9" * 19, str(2**63), "1_000"],
)
def test_fact_ids_that_cannot_name_a_fact(raw: str) -> None:
    # '²' and '٣' pass `str.isdigit` (and `int('²')` raises); above 18 digits, int64 overflows.
    assert parse_fact_id(raw) is None
