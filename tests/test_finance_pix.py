"""Static PIX BR Codes against the Banco Central's published example, and CRC properties."""

import base64
import io
from decimal import Decimal

import pytest
import qrcode
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from finance.pix import (
    PixError,
    brcode,
    classify_key,
    crc16,
    crc_is_valid,
    parse_fields,
    qr_png_base64,
)

# Manual de Padrões para Iniciação do Pix (Banco Central), the static QR example.
BCB_EXAMPLE = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
    "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)


def _reference_crc(text: str) -> str:
    """CRC-16/CCITT-FALSE written from its definition, bit by bit over a bit string."""
    bits = "".join(f"{byte:08b}" for byte in text.encode("utf-8"))
    register = 0xFFFF
    for bit in bits:
        top = (register >> 15) & 1
        register = (register << 1) & 0xFFFF
        if top ^ int(bit):
            register ^= 0x1021
    return f"{register:04X}"


def test_reference_crc_matches_the_standard_check_value():
    # CRC-16/CCITT-FALSE of "123456789" is 0x29B1 (the catalogue's check value).
    assert _reference_crc("123456789") == "29B1"
    assert crc16(b"123456789") == 0x29B1


def test_bcb_example_crc_is_1d3d():
    assert _reference_crc(BCB_EXAMPLE[:-4]) == "1D3D"
    assert crc_is_valid(BCB_EXAMPLE)


def test_bcb_example_is_reproduced_exactly():
    code = brcode("123e4567-e12b-12d1-a456-426655440000", "Fulano de Tal", "BRASILIA")
    assert code.payload == BCB_EXAMPLE


def test_amount_description_and_txid_go_into_their_fields():
    code = brcode(
        "+5511999998888",
        "Padaria Sol",
        "Recife",
        amount=Decimal("250"),
        txid="PED123",
        description="Bolo",
    )
    fields = parse_fields(code.payload)
    assert fields["54"] == "250.00"
    assert fields["26"] == "0014br.gov.bcb.pix0114+551199999888802" + "04Bolo"
    assert fields["62"] == "0506PED123"
    assert (fields["58"], fields["59"], fields["60"], fields["53"]) == (
        "BR",
        "Padaria Sol",
        "Recife",
        "986",
    )
    assert fields["63"] == _reference_crc(code.payload[:-4])


def test_names_and_cities_lose_their_accents():
    code = brcode("52998224725", "Açaí da Conceição", "São João")
    fields = parse_fields(code.payload)
    assert (fields["59"], fields["60"]) == ("Acai da Conceicao", "Sao Joao")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "N" * 26}, "name"),
        ({"city": "Santo Antonio do Descoberto"}, "city"),
        ({"city": "   "}, "city"),
        ({"amount": Decimal("0")}, "amount"),
        ({"amount": Decimal("1.005")}, "amount"),
        ({"amount": Decimal("99999999999.99")}, "amount"),
        ({"txid": "pedido 12"}, "txid"),
        ({"txid": "A" * 26}, "txid"),
        ({"key": "52998224724"}, "key"),  # not a CPF, and 52 is no area code
        ({"key": "119.999.988-88"}, "key"),  # written as a CPF: judged as one
        ({"key": "fulano@"}, "key"),
        ({"key": "+1 212 555 0100"}, "key"),
        ({"key": "11.222.333/0001-80"}, "key"),
        ({"key": "abc"}, "key"),
        ({"description": "x" * 80}, "description"),
    ],
)
def test_bad_arguments_name_the_field(kwargs, field):
    arguments = {"key": "52998224725", "name": "Padaria Sol", "city": "Recife", **kwargs}
    with pytest.raises(PixError) as error:
        brcode(**arguments)
    assert error.value.field == field


@pytest.mark.parametrize(
    ("key", "kind", "value"),
    [
        ("529.982.247-25", "cpf", "52998224725"),
        ("11.222.333/0001-81", "cnpj", "11222333000181"),
        ("12.ABC.345/01DE-35", "cnpj", "12ABC34501DE35"),
        ("Fulano@Exemplo.com.br", "email", "fulano@exemplo.com.br"),
        ("+55 (11) 99999-8888", "phone", "+5511999998888"),
        ("11999998888", "phone", "+5511999998888"),  # not a valid CPF: a mobile with DDD
        ("123E4567-E12B-12D1-A456-426655440000", "evp", "123e4567-e12b-12d1-a456-426655440000"),
    ],
)
def test_keys_are_classified_and_normalised(key, kind, value):
    assert classify_key(key) == (classify_key(key).__class__(kind, value))


def test_qr_png_holds_the_payload_matrix():
    image = Image.open(io.BytesIO(base64.b64decode(qr_png_base64(BCB_EXAMPLE))))
    assert image.format == "PNG" and image.width == image.height
    expected = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    expected.add_data(BCB_EXAMPLE)
    matrix = expected.get_matrix()
    box = image.width // len(matrix)
    gray = image.convert("L")
    seen = [
        [gray.getpixel((x * box + box // 2, y * box + box // 2)) < 128 for x in range(len(matrix))]
        for y in range(len(matrix))
    ]
    assert seen == matrix


# Property-based: any payload carries a CRC that validates, and any changed character breaks it.

plain = st.text(
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 "), min_size=1
)
payloads = st.builds(
    lambda name, city, cents, txid: (
        brcode(
            "123e4567-e12b-12d1-a456-426655440000",
            name,
            city,
            amount=Decimal(cents) / 100 if cents else None,
            txid=txid,
        ).payload
    ),
    plain.map(str.strip).filter(bool).map(lambda s: s[:25]),
    plain.map(str.strip).filter(bool).map(lambda s: s[:15]),
    st.integers(0, 10**10),
    st.text(st.sampled_from("ABCXYZ0123456789"), min_size=1, max_size=25),
)


@given(payloads)
def test_every_payload_crc_validates(payload):
    assert crc_is_valid(payload)
    assert payload[-4:] == _reference_crc(payload[:-4])


@given(payloads, st.data())
def test_any_changed_character_breaks_the_crc(payload, data):
    position = data.draw(st.integers(0, len(payload) - 1))
    replacement = data.draw(
        st.sampled_from("0123456789ABCDEFabcdef*. ").filter(lambda c: c != payload[position])
    )
    assert not crc_is_valid(payload[:position] + replacement + payload[position + 1 :])
