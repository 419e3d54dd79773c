"""CPF and CNPJ check digits against the Receita Federal's published examples and properties.

The reference here is written from the definition, in another form than finance/documents.py:
a check digit is (weighted sum × 10 mod 11) mod 10, which equals 11 − rest, or 0 for rest < 2.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from finance.documents import (
    cnpj_check_digits,
    cpf_check_digits,
    format_cnpj,
    is_valid_cnpj,
    is_valid_cpf,
    validate_document,
)

ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _ref_digit(values: list[int], weights: list[int]) -> int:
    return sum(v * w for v, w in zip(values, weights, strict=True)) * 10 % 11 % 10


def ref_cpf(base: str) -> str:
    values = [int(c) for c in base]
    first = _ref_digit(values, [10, 9, 8, 7, 6, 5, 4, 3, 2])
    second = _ref_digit([*values, first], [11, 10, 9, 8, 7, 6, 5, 4, 3, 2])
    return f"{base}{first}{second}"


def ref_cnpj(base: str) -> str:
    values = [ord(c) - ord("0") for c in base]
    first = _ref_digit(values, [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    second = _ref_digit([*values, first], [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    return f"{base}{first}{second}"


def ref_valid(document: str) -> bool:
    if len(set(document)) == 1:
        return False
    if len(document) == 11:
        return document.isdigit() and ref_cpf(document[:9]) == document
    return document[12:].isdigit() and ref_cnpj(document[:12]) == document


# Published and well-known examples


def test_receita_alphanumeric_cnpj_example_is_valid():
    # Receita Federal's example of the alphanumeric CNPJ (valid from July 2026).
    result = validate_document("12.ABC.345/01DE-35")
    assert (result.type, result.valid, result.formatted) == ("cnpj", True, "12.ABC.345/01DE-35")


def test_alphanumeric_check_digits_are_computed_from_ascii_minus_48():
    assert cnpj_check_digits("12ABC34501DE") == "35"


def test_numeric_cnpj_example_is_valid_and_formatted():
    result = validate_document("11222333000181")
    assert (result.type, result.valid, result.formatted) == ("cnpj", True, "11.222.333/0001-81")


def test_cpf_example_is_valid_and_formatted():
    result = validate_document("52998224725")
    assert (result.type, result.valid, result.formatted) == ("cpf", True, "529.982.247-25")


def test_cpf_check_digits_of_a_worked_example():
    # 5·10+2·9+9·8+9·7+8·6+2·5+2·4+4·3+7·2 = 295, 295 mod 11 = 9 → 2; then 347 mod 11 = 6 → 5.
    assert cpf_check_digits("529982247") == "25"


def test_wrong_check_digit_is_invalid():
    assert validate_document("529.982.247-24").valid is False


def test_repeated_digits_pass_the_arithmetic_but_are_invalid():
    assert is_valid_cpf("111.111.111-11") is False
    assert is_valid_cnpj("00000000000000") is False


def test_lowercase_letters_are_read_as_capitals():
    assert validate_document("12.abc.345/01de-35").valid is True


@pytest.mark.parametrize("number", ["123", "1234567890123", "12.ABC.345/01DE-3", "abc"])
def test_wrong_shapes_are_errors_not_answers(number):
    with pytest.raises(ValueError):
        validate_document(number)


def test_letters_in_a_cnpj_check_digit_are_invalid():
    assert is_valid_cnpj("12ABC34501DEAB") is False


# The scheme's blind spots, shown so nobody reads more into a "valid" than it says.


def test_a_cpf_first_digit_change_can_go_unnoticed():
    # 6→7 in the first digit moves the first sum's rest from 0 to 1 (both give check digit 0)
    # and the second sum by 11: the modulo-11 scheme cannot see it.
    assert ref_valid("62610945604") and ref_valid("72610945604")
    assert is_valid_cpf("62610945604") and is_valid_cpf("72610945604")


def test_alphanumeric_cnpj_cannot_tell_characters_eleven_apart():
    # 'B' (18) and '7' (7) differ by 11 ≡ 0 (mod 11): both CNPJs carry the same check digits.
    assert ref_valid("12A7C34501DE35")
    assert is_valid_cnpj("12A7C34501DE35")


# Property-based

cpf_bases = st.text("0123456789", min_size=9, max_size=9)
cnpj_bases = st.text(ALPHANUMERIC, min_size=12, max_size=12)
documents = st.one_of(cpf_bases.map(ref_cpf), cnpj_bases.map(ref_cnpj)).filter(
    lambda d: len(set(d)) > 1
)


@given(documents)
def test_generated_valid_documents_validate(document):
    assert validate_document(document).valid is True


@given(documents)
def test_formatted_documents_validate(document):
    result = validate_document(document)
    assert validate_document(result.formatted).valid is True
    if result.type == "cnpj":
        assert format_cnpj(document) == result.formatted


@given(documents, st.integers(0, 1), st.integers(1, 9))
def test_any_change_to_a_check_digit_invalidates(document, which, shift):
    position = len(document) - 2 + which
    changed = str((int(document[position]) + shift) % 10)
    mutated = document[:position] + changed + document[position + 1 :]
    assert validate_document(mutated).valid is False


@given(documents, st.data())
def test_any_single_character_change_is_judged_as_the_definition_judges_it(document, data):
    """Most single changes invalidate; the few the scheme cannot see (above) validate."""
    position = data.draw(st.integers(0, len(document) - 1))
    alphabet = "0123456789" if len(document) == 11 or position >= 12 else ALPHANUMERIC
    replacement = data.draw(st.sampled_from(alphabet).filter(lambda c: c != document[position]))
    mutated = document[:position] + replacement + document[position + 1 :]
    assert validate_document(mutated).valid is ref_valid(mutated)


@given(documents, st.data())
def test_a_numeric_change_in_the_base_invalidates_unless_it_hits_the_zero_rest(document, data):
    """A digit change by d shifts each weighted sum by weight × d ≢ 0 (mod 11); it can only
    survive where the rests 0 and 1 share check digit 0."""
    position = data.draw(st.integers(0, len(document) - 3))
    if not document[position].isdigit():
        return
    replacement = data.draw(st.sampled_from("0123456789").filter(lambda c: c != document[position]))
    mutated = document[:position] + replacement + document[position + 1 :]
    if validate_document(mutated).valid:
        assert mutated[-2] == "0" or mutated[-1] == "0"
