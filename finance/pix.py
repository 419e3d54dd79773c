"""Static PIX BR Codes ("copia e cola" and QR) per the Banco Central's Manual de Padrões para
Iniciação do Pix, which follows EMV® QRCPS–MPM: a run of ID-length-value fields closed by a
CRC16-CCITT-FALSE (polynomial 0x1021, initial 0xFFFF) over everything up to and including
"6304", written as four upper-case hex digits.
"""

from __future__ import annotations

import base64
import io
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import qrcode
from qrcode.constants import ERROR_CORRECT_M

from finance.documents import is_valid_cnpj, is_valid_cpf

__all__ = [
    "BrCode",
    "PixError",
    "PixKey",
    "brcode",
    "classify_key",
    "crc16",
    "crc_is_valid",
    "parse_fields",
    "plain_text",
    "qr_png_base64",
]

GUI = "br.gov.bcb.pix"
NAME_MAX = 25  # field 59, Merchant Name
CITY_MAX = 15  # field 60, Merchant City
TXID_MAX = 25  # field 62-05, Reference Label
AMOUNT_MAX_CHARS = 13  # field 54, Transaction Amount
ACCOUNT_INFO_MAX = 99  # field 26 as a whole: GUI, key and description
KeyType = Literal["cpf", "cnpj", "email", "phone", "evp"]

_EVP = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_MOBILE = re.compile(r"([1-9][1-9])9\d{8}")  # DDD + a 9-digit mobile number
# Area codes in use (Anatel's national numbering plan); 20, 23, 25, 26, 29, 30, 36, 39, 40, 50,
# 52, 56–60, 70, 72, 76, 78, 80 and 90 are not assigned.
_DDD = frozenset(
    int(code)
    for code in """11 12 13 14 15 16 17 18 19 21 22 24 27 28 31 32 33 34 35 37 38 41 42 43 44 45
    46 47 48 49 51 53 54 55 61 62 63 64 65 66 67 68 69 71 73 74 75 77 79 81 82 83 84 85 86 87
    88 89 91 92 93 94 95 96 97 98 99""".split()
)
_CPF_WRITTEN = re.compile(r"\d{3}\.\d{3}\.\d{3}-\d{2}")
_PUNCTUATION = re.compile(r"[\s.()/-]")
_TXID = re.compile(r"[A-Za-z0-9]{1,25}")
# EMV "ans" characters a payer's app shows reliably; accents are folded away first.
_NOT_PLAIN = re.compile(r"[^A-Za-z0-9 .,&'/-]")


class PixError(ValueError):
    """A BR Code argument that cannot go into the payload, naming the field (for a 422)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class PixKey:
    type: KeyType
    value: str  # as it goes into the payload: digits, +55…, lower-case e-mail or UUID


@dataclass(frozen=True)
class BrCode:
    payload: str
    key: PixKey
    name: str
    city: str
    amount: Decimal | None
    txid: str


def classify_key(key: str) -> PixKey:
    """The key's type and payload form; `PixError('key', …)` when it is none of the five."""
    text = key.strip()
    if _EVP.fullmatch(text):
        return PixKey("evp", text.lower())
    if "@" in text:
        if not _EMAIL.fullmatch(text) or len(text) > 77:
            raise PixError("key", "e-mail inválido para chave PIX")
        return PixKey("email", text.lower())
    compact = _PUNCTUATION.sub("", text)
    if _CPF_WRITTEN.fullmatch(text):
        if not is_valid_cpf(compact):
            raise PixError("key", "CPF com dígito verificador inválido")
        return PixKey("cpf", compact)
    if compact.startswith("+"):
        if not compact.startswith("+55") or not _is_mobile(compact[3:]):
            raise PixError("key", "telefone deve ser um celular do Brasil: +55, DDD e 9 dígitos")
        return PixKey("phone", compact)
    if len(compact) == 14 and compact.isalnum():
        if not is_valid_cnpj(compact):
            raise PixError("key", "CNPJ com dígito verificador inválido")
        return PixKey("cnpj", compact.upper())
    if compact.isdigit() and len(compact) == 11:
        # Eleven digits are a CPF or a mobile with DDD: a valid CPF wins, as the DICT does.
        if is_valid_cpf(compact):
            return PixKey("cpf", compact)
        if _is_mobile(compact):
            return PixKey("phone", f"+55{compact}")
        raise PixError("key", "CPF com dígito verificador inválido")
    if compact.isdigit() and len(compact) == 13 and compact.startswith("55"):
        if _is_mobile(compact[2:]):
            return PixKey("phone", f"+{compact}")
    raise PixError("key", "use CPF, CNPJ, e-mail, celular (+55) ou chave aleatória")


def _is_mobile(digits: str) -> bool:
    match = _MOBILE.fullmatch(digits)
    return match is not None and int(match.group(1)) in _DDD


def plain_text(field: str, value: str, limit: int) -> str:
    """Fold accents ('São Paulo' → 'Sao Paulo'), drop what payers' apps cannot show, and check
    the length the spec allows."""
    folded = unicodedata.normalize("NFKD", value)
    ascii_only = "".join(ch for ch in folded if not unicodedata.combining(ch))
    text = " ".join(_NOT_PLAIN.sub("", ascii_only).split())
    if not text:
        raise PixError(field, "não pode ficar vazio")
    if len(text) > limit:
        raise PixError(field, f"até {limit} caracteres (tem {len(text)})")
    return text


def brcode(
    key: str,
    name: str,
    city: str,
    amount: Decimal | None = None,
    txid: str | None = None,
    description: str | None = None,
) -> BrCode:
    """A static BR Code; without `amount` the payer types it."""
    pix_key = classify_key(key)
    merchant = plain_text("name", name, NAME_MAX)
    where = plain_text("city", city, CITY_MAX)
    reference = "***" if not txid else txid.strip()
    if reference != "***" and not _TXID.fullmatch(reference):
        raise PixError("txid", "até 25 letras ou números, sem espaços nem acentos")
    account = _field("00", GUI) + _field("01", pix_key.value)
    if description:
        account += _field("02", plain_text("description", description, ACCOUNT_INFO_MAX))
    if len(account) > ACCOUNT_INFO_MAX:
        room = ACCOUNT_INFO_MAX - len(_field("00", GUI) + _field("01", pix_key.value)) - 4
        raise PixError("description", f"com esta chave, a descrição cabe em {room} caracteres")
    parts = [_field("00", "01"), _field("26", account), _field("52", "0000"), _field("53", "986")]
    if amount is not None:
        parts.append(_field("54", _amount_text(amount)))
    parts += [_field("58", "BR"), _field("59", merchant), _field("60", where)]
    parts.append(_field("62", _field("05", reference)))
    body = "".join(parts) + "6304"
    payload = body + f"{crc16(body.encode('utf-8')):04X}"
    return BrCode(payload, pix_key, merchant, where, amount, reference)


def crc16(data: bytes) -> int:
    """CRC16-CCITT-FALSE: polynomial 0x1021, initial 0xFFFF, no reflection, no final XOR."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def crc_is_valid(payload: str) -> bool:
    """Whether the payload ends in '6304' plus the CRC of everything before those four digits."""
    if len(payload) < 8 or payload[-8:-4] != "6304":
        return False
    return payload[-4:] == f"{crc16(payload[:-4].encode('utf-8')):04X}"


def parse_fields(payload: str) -> dict[str, str]:
    """The top-level ID → value map of a payload (for tests and for reading one back)."""
    fields, index = {}, 0
    while index < len(payload):
        tag, size = payload[index : index + 2], payload[index + 2 : index + 4]
        if not size.isdigit():
            raise ValueError(f"campo {tag!r} sem tamanho em {index}")
        fields[tag] = payload[index + 4 : index + 4 + int(size)]
        index += 4 + int(size)
    return fields


def qr_png_base64(payload: str) -> str:
    """The payload as a QR code PNG, base64-encoded (medium error correction, as banks print)."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=8, border=4)
    code.add_data(payload)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _field(tag: str, value: str) -> str:
    if len(value) > 99:
        raise ValueError(f"campo {tag} com mais de 99 caracteres")
    return f"{tag}{len(value):02d}{value}"


def _amount_text(amount: Decimal) -> str:
    if amount <= 0:
        raise PixError("amount", "o valor precisa ser maior que zero")
    if amount != amount.quantize(Decimal("0.01")):
        raise PixError("amount", "o valor tem mais de duas casas decimais")
    text = f"{amount:.2f}"
    if len(text) > AMOUNT_MAX_CHARS:
        raise PixError("amount", "valor alto demais para um QR code PIX")
    return text
