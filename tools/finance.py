"""Leo's finance tools over `finance/`: Simples Nacional and MEI DAS, PIX BR Codes, CPF/CNPJ
check digits, business days and the month's due dates.

Each tool reads only its arguments and the clock, so the same call gives the same answer from
the model, offline mode, the API and the CLI. Domain errors from `finance/` (a CNPJ key with a
bad check digit, revenue above the Simples limit) become `ToolArgsError`s naming the field:
a 422 over HTTP, a sentence offline.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BeforeValidator, Field, field_validator

from core.text import fold
from finance import calendar, documents, pix, simples
from finance.amounts import AmountMatch, find_amounts, format_brl
from tools.base import (
    Args,
    MoneyArg,
    MoneyOut,
    MonthArg,
    PercentOut,
    Result,
    ToolArgsError,
    ToolEnv,
    ToolSpec,
)

A = TypeVar("A", bound=Args)
R = TypeVar("R", bound=Result)


def _field_errors(
    name: str, run: Callable[[A, ToolEnv], Awaitable[R]]
) -> Callable[[A, ToolEnv], Awaitable[R]]:
    """`finance/`'s field errors as the tool's `ToolArgsError` (a 422 naming the field)."""

    async def wrapped(args: A, env: ToolEnv) -> R:
        try:
            return await run(args, env)
        except (simples.SimplesError, pix.PixError, calendar.CalendarError) as error:
            raise ToolArgsError(name, [{"field": error.field, "message": error.message}]) from None

    return wrapped


def _date_arg(value: Any) -> Any:
    """ISO dates and the Brazilian 30/11/2026."""
    if isinstance(value, str) and (match := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", value)):
        day, month, year = (int(part) for part in match.groups())
        try:
            return dt.date(year, month, day)
        except ValueError:
            raise ValueError("data inexistente") from None
    return value


DateArg = Annotated[dt.date, BeforeValidator(_date_arg)]


_MONEY_CEILING = Decimal("1000000000000")  # R$ 1 trilhão: beyond it, a typo, not a business


def _no_negative(value: Decimal | None) -> Decimal | None:
    if value is not None and value < 0:
        raise ValueError("o valor não pode ser negativo")
    return value


def _two_places(value: Decimal | None) -> Decimal | None:
    """At most centavos, and a size Decimal's context can quantize (else InvalidOperation)."""
    if value is None:
        return None
    if not value.is_finite() or abs(value) > _MONEY_CEILING:
        raise ValueError("valor alto demais")
    if value != value.quantize(Decimal("0.01")):
        raise ValueError("o valor tem mais de duas casas decimais")
    return value


# ---------------------------------------------------------------- simples_das


def _annex(value: Any) -> Any:
    """'III', 'iii', '3', 3 and 'anexo 3' all mean Annex III."""
    text = fold(str(value)).replace("anexo", "").strip().upper()
    return {"1": "I", "2": "II", "3": "III", "4": "IV", "5": "V"}.get(text, text)


class SimplesDasArgs(Args):
    annex: Annotated[Literal["I", "II", "III", "IV", "V"], BeforeValidator(_annex)] = Field(
        description="Anexo do Simples Nacional da atividade: I a V"
    )
    rbt12: MoneyArg | None = Field(
        default=None,
        description="Receita bruta dos últimos 12 meses (dispensada nos 12 primeiros meses)",
    )
    month_revenue: MoneyArg = Field(description="Faturamento do mês a pagar")
    payroll12: MoneyArg | None = Field(
        default=None, description="Folha dos últimos 12 meses com encargos e pró-labore (Fator R)"
    )
    months_active: int | None = Field(
        default=None,
        ge=0,
        le=1200,
        description="Meses completos de atividade antes deste (0 no primeiro mês)",
    )
    revenue_so_far: MoneyArg | None = Field(
        default=None, description="Nos primeiros 12 meses: soma da receita dos meses anteriores"
    )

    @field_validator("rbt12", "month_revenue", "payroll12", "revenue_so_far")
    @classmethod
    def _money(cls, value: Decimal | None) -> Decimal | None:
        return _no_negative(_two_places(value))

    @field_validator("rbt12")
    @classmethod
    def _limit(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and value > simples.LIMIT:
            raise ValueError("acima do limite do Simples Nacional (R$ 4.800.000,00 por ano)")
        return value


class SimplesDasResult(Result):
    annex_applied: str
    bracket: int
    nominal_rate: PercentOut
    deduction: MoneyOut
    effective_rate: PercentOut
    das_amount: MoneyOut


async def _simples_das(args: SimplesDasArgs, env: ToolEnv) -> SimplesDasResult:
    found = simples.simples_das(
        args.annex,
        args.rbt12,
        args.month_revenue,
        payroll12=args.payroll12,
        months_active=args.months_active,
        revenue_so_far=args.revenue_so_far,
    )
    return SimplesDasResult(
        annex_applied=found.annex_applied,
        bracket=found.bracket,
        nominal_rate=found.nominal_rate * 100,
        deduction=found.deduction,
        effective_rate=found.effective_rate * 100,
        das_amount=found.das_amount,
    )


_DAS_ASK = re.compile(r"\bdas\b|simples nacional|\bsimples\b.*\b(?:imposto|pagar|aliquota)")
_ANNEX = re.compile(r"\banexo\s+(iv|v|i{1,3}|[1-5])\b")
_RBT12_NEAR = re.compile(r"12 meses|doze meses|ultimos|no ano|acumulad|rbt")
_PAYROLL_NEAR = re.compile(r"folha|pro.?labore|salarios")


def extract_simples_das(message: str, env: ToolEnv) -> dict[str, Any] | None:
    """'quanto vou pagar de DAS? faturei 30 mil, anexo III, 360 mil nos últimos 12 meses'."""
    folded = fold(message)
    if not _DAS_ASK.search(folded) or re.search(r"\bmei\b", folded):
        return None
    amounts = find_amounts(message)
    if not amounts:
        return None
    raw: dict[str, Any] = {}
    if annex := _ANNEX.search(folded):
        raw["annex"] = annex.group(1)
    for index, amount in enumerate(amounts):
        role = _amount_role(folded, amounts, index)
        if role not in raw:
            raw[role] = str(amount.value)
    if "month_revenue" not in raw:
        return None
    return raw


def _amount_role(folded: str, amounts: list[AmountMatch], index: int) -> str:
    """Which argument an amount is, from the words between it and its neighbours."""
    amount = amounts[index]
    start = amounts[index - 1].end if index else max(0, amount.start - 40)
    end = amounts[index + 1].start if index + 1 < len(amounts) else amount.end + 40
    before, after = folded[start : amount.start][-30:], folded[amount.end : end][:40]
    # What follows an amount names it ("360 mil nos últimos 12 meses"), the nearest word first;
    # failing that, the word just before it ("folha de 100 mil").
    roles = (("rbt12", _RBT12_NEAR), ("payroll12", _PAYROLL_NEAR))
    after_hits = [(m.start(), role) for role, p in roles if (m := p.search(after))]
    if after_hits:
        return min(after_hits)[1]
    before_hits = [(m.end(), role) for role, p in roles for m in p.finditer(before)]
    if before_hits:
        return max(before_hits)[1]
    return "month_revenue"


def _simples_summary(args: SimplesDasArgs, result: SimplesDasResult) -> str:
    moved = (
        " (Fator R ≥ 28 %: tributado no Anexo III)" if result.annex_applied != args.annex else ""
    )
    return (
        f"DAS estimado: {format_brl(result.das_amount)} sobre {format_brl(args.month_revenue)} "
        f"de faturamento. Anexo {result.annex_applied}{moved}, faixa {result.bracket}: alíquota "
        f"nominal {_percent(result.nominal_rate)}, parcela a deduzir "
        f"{format_brl(result.deduction)}, alíquota efetiva {_percent(result.effective_rate)}. "
        "Confira no PGDAS-D ou com o contador."
    )


def _percent(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))}".replace(".", ",") + " %"


SIMPLES_DAS = ToolSpec(
    name="simples_das",
    description="Calcula o DAS mensal do Simples Nacional (anexos I a V, Fator R, primeiros "
    "12 meses) a partir do faturamento do mês e da receita dos últimos 12 meses.",
    args=SimplesDasArgs,
    result=SimplesDasResult,
    run=_field_errors("simples_das", _simples_das),
    extract=extract_simples_das,
    summary=_simples_summary,
)


# ---------------------------------------------------------------- mei_das


def _activity(value: Any) -> Any:
    text = fold(str(value)).strip()
    commerce = re.search(r"comerc|industr|loja|revend", text) is not None
    services = re.search(r"servic", text) is not None
    if "ambos" in text or (commerce and services):
        return "comercio_servicos"
    return "comercio_industria" if commerce else "servicos" if services else value


MEI_LABELS = {
    "comercio_industria": "comércio ou indústria",
    "servicos": "serviços",
    "comercio_servicos": "comércio e serviços",
}


class MeiDasArgs(Args):
    activity: Annotated[
        Literal["comercio_industria", "servicos", "comercio_servicos"], BeforeValidator(_activity)
    ] = Field(description="Atividade do MEI: comercio_industria, servicos ou comercio_servicos")
    year: int | None = Field(default=None, description="Ano do DAS; padrão: este ano")


class MeiDasResult(Result):
    year: int
    activity: str
    inss: MoneyOut
    icms: MoneyOut
    iss: MoneyOut
    total: MoneyOut


async def _mei_das(args: MeiDasArgs, env: ToolEnv) -> MeiDasResult:
    found = simples.mei_das(args.activity, args.year or env.today().year)
    return MeiDasResult(
        year=found.year,
        activity=found.activity,
        inss=found.inss,
        icms=found.icms,
        iss=found.iss,
        total=found.total,
    )


def extract_mei_das(message: str, env: ToolEnv) -> dict[str, Any] | None:
    """'quanto é o DAS do MEI de serviços?' → the activity (None if it is not said)."""
    folded = fold(message)
    if not re.search(r"\bmei\b", folded) or not re.search(r"\bdas\b|guia|mensalidade", folded):
        return None
    activity = _activity(folded)
    if activity == folded:
        return None  # no activity named: the knowledge answers with the three values
    year = re.search(r"\b(20\d\d)\b", folded)
    return {"activity": activity, **({"year": int(year.group(1))} if year else {})}


def _mei_summary(args: MeiDasArgs, result: MeiDasResult) -> str:
    parts = [f"INSS {format_brl(result.inss)}"]
    if result.icms:
        parts.append(f"ICMS {format_brl(result.icms)}")
    if result.iss:
        parts.append(f"ISS {format_brl(result.iss)}")
    return (
        f"DAS-MEI de {result.year} para {MEI_LABELS[result.activity]}: "
        f"{format_brl(result.total)} por mês ({' + '.join(parts)}), vencendo todo dia 20."
    )


MEI_DAS = ToolSpec(
    name="mei_das",
    description="Valor fixo mensal do DAS do MEI por atividade (comércio/indústria, serviços, "
    "ou os dois), pela tabela do ano.",
    args=MeiDasArgs,
    result=MeiDasResult,
    run=_field_errors("mei_das", _mei_das),
    extract=extract_mei_das,
    summary=_mei_summary,
    labels=MEI_LABELS,
)


# ---------------------------------------------------------------- pix_brcode


class PixArgs(Args):
    key: str = Field(min_length=1, max_length=77, description="Chave PIX de quem recebe")
    name: str = Field(min_length=1, max_length=100, description="Nome de quem recebe (até 25)")
    city: str = Field(min_length=1, max_length=100, description="Cidade de quem recebe (até 15)")
    amount: MoneyArg | None = Field(default=None, description="Valor; vazio: o pagador digita")
    txid: str | None = Field(default=None, max_length=25, description="Identificador, até 25")
    description: str | None = Field(default=None, max_length=99)

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: Decimal | None) -> Decimal | None:
        value = _two_places(value)
        if value is not None and value <= 0:
            raise ValueError("o valor precisa ser maior que zero")
        return value


class PixResult(Result):
    payload: str
    qr_png_base64: str


async def _pix(args: PixArgs, env: ToolEnv) -> PixResult:
    code = pix.brcode(args.key, args.name, args.city, args.amount, args.txid, args.description)
    return PixResult(payload=code.payload, qr_png_base64=pix.qr_png_base64(code.payload))


_PIX_ASK = re.compile(r"\bpix\b")
_PIX_MAKE = re.compile(r"\b(?:ger\w*|cri\w*|faz\w*|fac\w*|mont\w*|qr|copia e cola|cobr\w*|link)")
_KEY_PATTERNS = (
    re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE),
    re.compile(r"[^\s@,;]+@[^\s@,;]+\.[A-Za-z]{2,}(?:\.[A-Za-z]{2})?"),
    re.compile(r"\b[0-9A-Za-z]{2}\.[0-9A-Za-z]{3}\.[0-9A-Za-z]{3}/[0-9A-Za-z]{4}-\d{2}\b"),
    re.compile(r"\b\d{3}\.\d{3}\.\d{3}-\d{2}\b"),
    re.compile(r"\+\s?55[\s\d().-]{10,}\d"),
    re.compile(r"\(\d{2}\)\s*9\d{4}-?\d{4}"),
    re.compile(r"\b\d{2}\s?9\d{4}-?\d{4}\b"),
    re.compile(r"\b\d{14}\b|\b\d{11}\b"),
)
_STOP = r"(?=\s+(?:nome|cidade|chave|valor|descricao|descrição|txid|de\s+R\$)\b|[,;.!?]|$)"
_NAME = re.compile(r"\bnome\s*(?:de\s+|:\s*|é\s+|e\s+)?(.+?)" + _STOP, re.IGNORECASE)
_CITY = re.compile(r"\bcidade\s*(?:de\s+|:\s*|é\s+|e\s+)?(.+?)" + _STOP, re.IGNORECASE)
_TXID = re.compile(r"\btxid\s*:?\s*([A-Za-z0-9]{1,25})\b", re.IGNORECASE)


def extract_pix(message: str, env: ToolEnv) -> dict[str, Any] | None:
    """'gera um PIX de 250 pra chave 11999998888 nome Padaria Sol cidade Recife'."""
    folded = fold(message)
    if not _PIX_ASK.search(folded) or not _PIX_MAKE.search(folded):
        return None
    key_from = folded.find("chave")
    region = message[key_from:] if key_from >= 0 else message
    key = next((m for p in _KEY_PATTERNS if (m := p.search(region))), None)
    if key is None:
        return None
    raw: dict[str, Any] = {"key": key.group()}
    offset = max(key_from, 0)
    spans = [(key.start() + offset, key.end() + offset)]
    if name := _NAME.search(message):
        raw["name"] = name.group(1).strip()
        spans.append(name.span(1))
    if city := _CITY.search(message):
        raw["city"] = city.group(1).strip()
    if txid := _TXID.search(message):
        raw["txid"] = txid.group(1)
        spans.append(txid.span(1))
    # The amount, from the text without the key, name and txid (any may hold digits).
    blanked = message
    for start, end in spans:
        blanked = blanked[:start] + " " * (end - start) + blanked[end:]
    amounts = find_amounts(blanked)
    if amounts:
        raw["amount"] = str(max(amounts, key=lambda a: (a.rank, a.value)).value)
    return raw


def _pix_summary(args: PixArgs, result: PixResult) -> str:
    fields = pix.parse_fields(result.payload)
    value = f"de {format_brl(args.amount)} " if args.amount is not None else "sem valor fixo "
    return f"PIX {value}para {fields['59']} ({fields['60']}). Copia e cola: {result.payload}"


PIX_BRCODE = ToolSpec(
    name="pix_brcode",
    description="Gera um PIX estático (BR Code copia e cola e QR code) para uma chave, com "
    "nome e cidade de quem recebe e, se quiser, valor e identificador.",
    args=PixArgs,
    result=PixResult,
    run=_field_errors("pix_brcode", _pix),
    extract=extract_pix,
    summary=_pix_summary,
)


# ---------------------------------------------------------------- validate_document


class DocumentArgs(Args):
    number: str = Field(min_length=1, max_length=30, description="CPF ou CNPJ, com ou sem pontos")

    @field_validator("number")
    @classmethod
    def _shape(cls, value: str) -> str:
        documents.validate_document(value)  # ValueError names what a CPF/CNPJ looks like
        return value


class DocumentResult(Result):
    valid: bool
    type: Literal["cpf", "cnpj"]
    formatted: str


async def _validate_document(args: DocumentArgs, env: ToolEnv) -> DocumentResult:
    found = documents.validate_document(args.number)
    return DocumentResult(valid=found.valid, type=found.type, formatted=found.formatted)


_DOC_ASK = re.compile(r"\b(?:cpf|cnpj)\b")
_DOC_CHECK = re.compile(r"valid|verific|confer|certo|correto|existe|\bok\b|digito|checa|bate")
_DOC_NUMBER = (
    re.compile(r"\b[0-9A-Za-z]{2}\.?[0-9A-Za-z]{3}\.?[0-9A-Za-z]{3}/?[0-9A-Za-z]{4}-?\d{2}\b"),
    re.compile(r"\b\d{3}\.?\d{3}\.?\d{3}-?\d{2}\b"),
)


def extract_document(message: str, env: ToolEnv) -> dict[str, Any] | None:
    """'esse CNPJ é válido? 12.ABC.345/01DE-35' → the number."""
    folded = fold(message)
    if not _DOC_ASK.search(folded) or not _DOC_CHECK.search(folded):
        return None
    for pattern in _DOC_NUMBER:
        for match in pattern.finditer(message):
            if any(ch.isdigit() for ch in match.group()):
                return {"number": match.group()}
    return None


def _document_summary(args: DocumentArgs, result: DocumentResult) -> str:
    kind = result.type.upper()
    if result.valid:
        return (
            f"O {kind} {result.formatted} é válido: os dígitos verificadores conferem. "
            "(Isso não diz se está ativo na Receita Federal.)"
        )
    return f"O {kind} {result.formatted} não é válido: os dígitos verificadores não conferem."


VALIDATE_DOCUMENT = ToolSpec(
    name="validate_document",
    description="Confere os dígitos verificadores de um CPF ou CNPJ (inclusive o CNPJ "
    "alfanumérico, válido a partir de julho de 2026) e devolve o número formatado.",
    args=DocumentArgs,
    result=DocumentResult,
    run=_validate_document,
    extract=extract_document,
    summary=_document_summary,
)


# ---------------------------------------------------------------- business_calendar


def _state(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


StateArg = Annotated[str | None, BeforeValidator(_state)]


class CalendarArgs(Args):
    from_: DateArg = Field(alias="from", description="Primeiro dia (AAAA-MM-DD)")
    to: DateArg = Field(description="Último dia (AAAA-MM-DD)")
    state: StateArg = Field(default=None, description="Sigla do estado, para feriados estaduais")

    @field_validator("state")
    @classmethod
    def _known_state(cls, value: str | None) -> str | None:
        if value is not None and value not in calendar.STATES:
            raise ValueError("use a sigla de um estado, como PE ou SP")
        return value


class HolidayOut(Result):
    date: dt.date
    name: str


class CalendarResult(Result):
    business_days: int
    holidays: list[HolidayOut]


async def _business_calendar(args: CalendarArgs, env: ToolEnv) -> CalendarResult:
    days = calendar.business_days(args.from_, args.to, args.state)
    found = calendar.holidays_between(args.from_, args.to, args.state)
    return CalendarResult(
        business_days=len(days), holidays=[HolidayOut(date=h.date, name=h.name) for h in found]
    )


_MONTH_NAMES = (
    "janeiro fevereiro marco abril maio junho julho agosto setembro outubro novembro dezembro"
).split()
_STATE_NAMES = {
    "acre": "AC", "alagoas": "AL", "amapa": "AP", "amazonas": "AM", "bahia": "BA",
    "ceara": "CE", "distrito federal": "DF", "espirito santo": "ES", "goias": "GO",
    "maranhao": "MA", "mato grosso do sul": "MS", "mato grosso": "MT", "minas gerais": "MG",
    "minas": "MG", "para": "PA", "paraiba": "PB", "parana": "PR", "pernambuco": "PE",
    "piaui": "PI", "rio de janeiro": "RJ", "rio grande do norte": "RN",
    "rio grande do sul": "RS", "rondonia": "RO", "roraima": "RR", "santa catarina": "SC",
    "sao paulo": "SP", "sergipe": "SE", "tocantins": "TO",
}  # fmt: skip
_DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{4}))?\b")


def extract_calendar(message: str, env: ToolEnv) -> dict[str, Any] | None:
    """'quantos dias úteis tem dezembro em PE?', 'feriados entre 01/12 e 31/12'."""
    folded = fold(message)
    if not re.search(r"\bdias? uteis\b|\bdia util\b|\bferiados?\b", folded):
        return None
    today = env.today()
    dates = [_full_date(m, today) for m in _DATE.finditer(folded)]
    dates = [d for d in dates if d is not None]
    if len(dates) >= 2:
        start, end = dates[0], dates[1]
    else:
        year, month = _month_in(folded, today)
        start = dt.date(year, month, 1)
        end = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    raw: dict[str, Any] = {"from": start.isoformat(), "to": end.isoformat()}
    if state := _state_in(message, folded):
        raw["state"] = state
    return raw


def _full_date(match: re.Match[str], today: dt.date) -> dt.date | None:
    day, month, year = match.groups()
    try:
        return dt.date(int(year) if year else today.year, int(month), int(day))
    except ValueError:
        return None


def _month_in(folded: str, today: dt.date) -> tuple[int, int]:
    """The month a message names; a month already gone this year means next year's."""
    if re.search(r"\b(?:mes que vem|proximo mes)\b", folded):
        return (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    if match := re.search(r"\b(\d{4})-(0[1-9]|1[0-2])\b", folded):
        return int(match.group(1)), int(match.group(2))
    for number, name in enumerate(_MONTH_NAMES, 1):
        if re.search(rf"\b{name}\b", folded):
            year = re.search(rf"\b{name}\s+(?:de\s+)?(\d{{4}})\b", folded)
            if year:
                return int(year.group(1)), number
            return (today.year + 1 if number < today.month else today.year), number
    return today.year, today.month


def _state_in(message: str, folded: str) -> str | None:
    for match in re.finditer(r"\b([A-Z]{2})\b", message):
        if match.group(1) in calendar.STATES and match.group(1) not in ("DE", "EM"):
            return match.group(1)
    for name, code in _STATE_NAMES.items():
        if re.search(rf"\b(?:em|no|na|de|do|da)\s+{name}\b", folded):
            return code
    return None


def _calendar_summary(args: CalendarArgs, result: CalendarResult) -> str:
    where = f" em {args.state}" if args.state else " (feriados nacionais)"
    count = "1 dia útil" if result.business_days == 1 else f"{result.business_days} dias úteis"
    text = f"De {args.from_:%d/%m/%Y} a {args.to:%d/%m/%Y}{where}: {count}."
    if result.holidays:
        listed = "; ".join(f"{h.date:%d/%m/%Y} ({h.name})" for h in result.holidays)
        text += f" Feriados: {listed}."
    return text + " Feriados municipais não entram na conta."


BUSINESS_CALENDAR = ToolSpec(
    name="business_calendar",
    description="Conta os dias úteis entre duas datas e lista os feriados nacionais (e do "
    "estado, se informado) no período.",
    args=CalendarArgs,
    result=CalendarResult,
    run=_field_errors("business_calendar", _business_calendar),
    extract=extract_calendar,
    summary=_calendar_summary,
)


# ---------------------------------------------------------------- obligations


class ObligationsArgs(Args):
    user_id: str = Field(min_length=1, max_length=128)
    month: MonthArg = Field(description="Mês no formato AAAA-MM")
    regime: Literal["mei", "simples"] | None = Field(
        default=None, description="mei ou simples; padrão: simples"
    )
    employees: bool = Field(default=False, description="Tem empregados (FGTS, INSS, 13º…)")
    state: StateArg = Field(default=None, description="Sigla do estado, para feriados estaduais")

    @field_validator("state")
    @classmethod
    def _known_state(cls, value: str | None) -> str | None:
        if value is not None and value not in calendar.STATES:
            raise ValueError("use a sigla de um estado, como PE ou SP")
        return value


class ObligationOut(Result):
    code: str
    name: str
    due_date: dt.date
    nominal_date: dt.date
    shift: Literal["next", "previous", "none"]
    period: str
    source: str


class ObligationsResult(Result):
    month: str
    regime: Literal["mei", "simples"]
    # Where the regime came from: the call, the owner's business profile, or the default.
    regime_from: Literal["arguments", "profile", "default"]
    obligations: list[ObligationOut]


async def _obligations(args: ObligationsArgs, env: ToolEnv) -> ObligationsResult:
    profile = None
    if env.profiles is not None and (args.regime is None or args.state is None):
        profile = await env.profiles.get(args.user_id)
    regime, regime_from = args.regime, "arguments"
    state, employees = args.state, args.employees
    if regime is None and profile is not None:
        regime, regime_from = profile.regime, "profile"
        employees = employees or profile.employees
    if state is None and profile is not None:
        state = profile.state
    if regime is None:
        regime, regime_from = "simples", "default"
    found = calendar.obligations(regime, args.month, state, employees)
    return ObligationsResult(
        month=args.month,
        regime=regime,
        regime_from=regime_from,
        obligations=[
            ObligationOut(
                code=o.code,
                name=o.name,
                due_date=o.due_date,
                nominal_date=o.nominal_date,
                shift=o.shift,
                period=o.period,
                source=o.source,
            )
            for o in found
        ],
    )


_OBLIGATIONS_ASK = re.compile(
    r"obrigac|vencimento|\bvence|\bprazo|agenda (?:fiscal|tributaria)|calendario (?:fiscal|de)"
    r"|quando (?:eu )?(?:pago|pagar|tenho que pagar|devo pagar|entrego|entregar)"
)


def extract_obligations(message: str, env: ToolEnv) -> dict[str, Any] | None:
    """'quais os vencimentos de dezembro? tenho 2 funcionários' → month, employees, regime."""
    folded = fold(message)
    if not _OBLIGATIONS_ASK.search(folded) or re.search(r"\bdias? uteis\b", folded):
        return None
    year, month = _month_in(folded, env.today())
    raw: dict[str, Any] = {"month": f"{year:04d}-{month:02d}"}
    if re.search(r"\bmei\b", folded):
        raw["regime"] = "mei"
    elif "simples" in folded:
        raw["regime"] = "simples"
    if re.search(r"funcionari|empregad|folha|\b13\b|13o|decimo|fgts|inss|esocial", folded):
        raw["employees"] = True
    if state := _state_in(message, folded):
        raw["state"] = state
    return raw


def _obligations_summary(args: ObligationsArgs, result: ObligationsResult) -> str:
    year, month = result.month.split("-")
    regime = "MEI" if result.regime == "mei" else "Simples Nacional"
    assumed = (
        " (considerei Simples Nacional; se for MEI, me diga)"
        if result.regime_from == "default"
        else ""
    )
    lines = [f"Vencimentos de {month}/{year} para {regime}{assumed}:"]
    for item in result.obligations:
        moved = ""
        if item.due_date != item.nominal_date:
            direction = "antecipado" if item.due_date < item.nominal_date else "adiado"
            moved = f" ({direction}: {item.nominal_date:%d/%m} não é dia útil)"
        lines.append(f"- {item.due_date:%d/%m/%Y}: {item.name}{moved}")
    if len(lines) == 1:
        lines.append("- nenhum vencimento neste mês.")
    return "\n".join(lines)


OBLIGATIONS = ToolSpec(
    name="obligations",
    description="Lista os vencimentos de impostos e obrigações trabalhistas do mês (DAS, "
    "DAS-MEI, DASN-SIMEI, DEFIS, FGTS, INSS, eSocial, salários, 13º), já ajustados para dias "
    "úteis, com a base legal de cada um.",
    args=ObligationsArgs,
    result=ObligationsResult,
    run=_field_errors("obligations", _obligations),
    extract=extract_obligations,
    summary=_obligations_summary,
    user_scoped=True,
)

FINANCE_TOOLS = (SIMPLES_DAS, MEI_DAS, PIX_BRCODE, VALIDATE_DOCUMENT, BUSINESS_CALENDAR)
FINANCE_TOOLS += (OBLIGATIONS,)
