"""core/pii.py: each written form of a CPF, CNPJ, phone, e-mail and card is masked, nothing else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.pii import mask_pii

# Words around the data: letters, spaces and punctuation that never join a number.
_PROSE = st.text(alphabet="abcdefghijklmnopqrstuvwxyzçãé ,;:!?", max_size=30)
_DIGIT = st.sampled_from("0123456789")


def _cpf_check_digits(base: str) -> str:
    digits = [int(d) for d in base]
    for position in (9, 10):
        total = sum(
            n * w for n, w in zip(digits[:position], range(position + 1, 1, -1), strict=True)
        )
        digits.append(total * 10 % 11 % 10)
    return "".join(map(str, digits))


@st.composite
def cpfs(draw: st.DrawFn) -> tuple[str, str]:
    """(digits, as written): valid or not, bare or with the usual separators."""
    base = "".join(draw(st.lists(_DIGIT, min_size=9, max_size=9)))
    digits = _cpf_check_digits(base) if draw(st.booleans()) else base + draw(_DIGIT) + draw(_DIGIT)
    d = digits
    forms = [d, f"{d[:3]}.{d[3:6]}.{d[6:9]}-{d[9:]}", f"{d[:3]} {d[3:6]} {d[6:9]} {d[9:]}"]
    written = draw(st.sampled_from([*forms, f"{d[:9]}-{d[9:]}"]))
    return digits, written


@st.composite
def phones(draw: st.DrawFn) -> tuple[str, str]:
    """(subscriber digits, as written): mobile or landline, with or without +55 and area code."""
    area = draw(st.sampled_from("123456789")) + draw(st.sampled_from("123456789"))
    mobile = draw(st.booleans())
    first = "9" + draw(_DIGIT) if mobile else draw(st.sampled_from("2345"))
    rest = "".join(draw(st.lists(_DIGIT, min_size=7, max_size=7)))
    local = first + rest
    head, tail = local[:-4], local[-4:]
    forms = [
        f"+55 ({area}) {head}-{tail}",
        f"+55 {area} {head}-{tail}",
        f"+55{area}{local}",
        f"55{area}{local}",
        f"({area}) {head}-{tail}",
        f"({area}){head}-{tail}",
        f"{area} {head} {tail}",
        f"{area}{local}",
        f"{head}-{tail}",
    ]
    if mobile:
        forms += [f"+55 {area} 9 {local[1:5]}-{tail}", local]
    return local, draw(st.sampled_from(forms))


@given(cpfs(), _PROSE, _PROSE)
def test_a_cpf_in_any_form_is_masked(cpf: tuple[str, str], before: str, after: str) -> None:
    digits, written = cpf
    masked = mask_pii(f"{before} {written} {after}")
    assert digits[:9] not in masked.replace(".", "").replace(" ", "").replace("-", "")
    assert "<cpf>" in masked or "<phone>" in masked


@given(phones(), _PROSE, _PROSE)
def test_a_phone_in_any_form_is_masked(phone: tuple[str, str], before: str, after: str) -> None:
    local, written = phone
    masked = mask_pii(f"{before} {written} {after}")
    assert local[-8:] not in "".join(ch for ch in masked if ch.isdigit())
    assert "<phone>" in masked or "<cpf>" in masked


@given(_PROSE)
def test_text_without_numbers_is_left_alone(text: str) -> None:
    assert mask_pii(text) == text


@given(st.text(max_size=60))
def test_masking_twice_changes_nothing(text: str) -> None:
    once = mask_pii(text)
    assert mask_pii(once) == once


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CNPJ 11.222.333/0001-81 ok", "CNPJ <cnpj> ok"),
        ("cnpj 11222333000181", "cnpj <cnpj>"),
        ("cnpj novo 12.ABC.345/01DE-35", "cnpj novo <cnpj>"),
        ("cnpj novo 12ABC34501DE35", "cnpj novo <cnpj>"),
        ("escreve pra ana.souza+loja@padaria.com.br", "escreve pra <email>"),
        ("cartão 4111 1111 1111 1111", "cartão <card>"),
        ("cartão 4111-1111-1111-1111", "cartão <card>"),
        ("cartão 4111111111111111", "cartão <card>"),
        ("amex 3782 822463 10005", "amex <card>"),
    ],
)
def test_documents_email_and_cards_are_masked(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Registre receita de R$ 1.234,56 da venda de hoje",
        "R$ 123.456.789,00 no ano",
        "Simples Nacional 2023-2024",
        "2026-12-07T14:10:20.123456+00:00",
        "request 550e8400-e29b-41d4-a716-446655440000",
        "thread padaria-1 pid 12345 port 54321",
        "id ABCDEFGHIJKL12",  # the alphanumeric CNPJ's shape with wrong check digits
    ],
)
def test_money_dates_and_ids_are_not_masked(text: str) -> None:
    assert mask_pii(text) == text


def _cnpj_with_check_digits(base: str) -> str:
    values = [ord(ch) - 48 for ch in base]
    for position in (12, 13):
        weights = list(range(position - 7, 1, -1)) + list(range(9, 1, -1))
        rest = sum(v * w for v, w in zip(values, weights, strict=True)) % 11
        values.append(0 if rest < 2 else 11 - rest)
    return base + "".join(str(v) for v in values[12:])


@given(
    st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=12, max_size=12),
    st.booleans(),
    _PROSE,
)
def test_a_cnpj_numeric_or_alphanumeric_is_masked(base: str, formatted: bool, before: str) -> None:
    c = _cnpj_with_check_digits(base)
    written = f"{c[:2]}.{c[2:5]}.{c[5:8]}/{c[8:12]}-{c[12:]}" if formatted else c
    masked = mask_pii(f"{before} {written} ok")
    assert masked == f"{before} <cnpj> ok"
