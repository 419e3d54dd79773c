"""Leo's finance tools as callers see them: JSON in, JSON out (money "1500.00", rates "11.20"),
field errors, offline extraction from Portuguese, and pt-BR summaries."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest

from tools.base import MoneyArg, ToolArgsError, ToolEnv
from tools.registry import TOOLS, call_tool

# Monday 30/11/2026, noon in São Paulo.
ENV = ToolEnv(now=dt.datetime(2026, 11, 30, 15, 0, tzinfo=dt.UTC))
FINANCE = ("simples_das", "mei_das", "pix_brcode", "validate_document", "business_calendar")
FINANCE += ("obligations",)


async def call(name: str, raw: dict[str, Any]) -> dict[str, Any]:
    return await call_tool(name, raw, ENV, user_id="u1")


def extract(name: str, message: str) -> dict[str, Any] | None:
    spec = TOOLS[name]
    assert spec.extract is not None
    return spec.extract(message, ENV)


async def describe(name: str, raw: dict[str, Any]) -> str:
    spec = TOOLS[name]
    args = spec.validate({**raw, "user_id": "u1"} if spec.user_scoped else raw)
    return spec.describe(args, await spec.run(args, ENV))


def test_every_finance_tool_is_registered_with_a_model_schema():
    for name in FINANCE:
        schema = TOOLS[name].model_schema()
        assert schema["function"]["name"] == name
        assert "user_id" not in schema["function"]["parameters"]["properties"]


def test_business_calendar_schema_names_the_from_argument():
    properties = TOOLS["business_calendar"].model_schema()["function"]["parameters"]["properties"]
    assert {"from", "to", "state"} <= set(properties)


# simples_das


async def test_simples_das_json_gives_money_and_percent_strings():
    # Annex III, RBT12 360.000 → bracket 2: (40.320 − 9.360) ÷ 360.000 = 8,6 %; × 30.000 = 2.580.
    result = await call(
        "simples_das", {"annex": "III", "rbt12": 360000, "month_revenue": "30000.00"}
    )
    assert result == {
        "annex_applied": "III",
        "bracket": 2,
        "nominal_rate": "11.20",
        "deduction": "9360.00",
        "effective_rate": "8.60",
        "das_amount": "2580.00",
    }


async def test_simples_das_accepts_brazilian_notation_and_arabic_annex():
    # Annex I, RBT12 600.000 → 7,19 %; 50.000 × 7,19 % = 3.595.
    result = await call(
        "simples_das", {"annex": "1", "rbt12": "R$ 600.000,00", "month_revenue": "50 mil"}
    )
    assert (result["effective_rate"], result["das_amount"]) == ("7.19", "3595.00")


async def test_simples_das_fator_r_moves_annex_v_to_iii():
    result = await call(
        "simples_das",
        {"annex": "V", "rbt12": 1000000, "month_revenue": 80000, "payroll12": 280000},
    )
    assert (result["annex_applied"], result["das_amount"]) == ("III", "9948.80")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"annex": "VI", "rbt12": 1, "month_revenue": 1}, "annex"),
        ({"annex": "I", "rbt12": "4800000.01", "month_revenue": 1}, "rbt12"),
        ({"annex": "I", "rbt12": -1, "month_revenue": 1}, "rbt12"),
        ({"annex": "I", "rbt12": 1, "month_revenue": "-5"}, "month_revenue"),
        ({"annex": "I", "rbt12": 1, "month_revenue": 10**30}, "month_revenue"),
        ({"annex": "I", "rbt12": 1, "month_revenue": "1.001"}, "month_revenue"),
        ({"annex": "I", "month_revenue": 1}, "rbt12"),
        ({"annex": "I", "month_revenue": 500000, "months_active": 0}, "month_revenue"),
        ({"annex": "I", "month_revenue": 1, "months_active": 3}, "revenue_so_far"),
        ({"annex": "I", "rbt12": "123.456.789-09", "month_revenue": 1}, "rbt12"),
    ],
)
async def test_simples_das_bad_arguments_name_the_field(raw, field):
    with pytest.raises(ToolArgsError) as error:
        await call("simples_das", raw)
    assert [e["field"] for e in error.value.errors] == [field]


def test_simples_das_is_extracted_from_the_owners_question():
    raw = extract(
        "simples_das",
        "quanto vou pagar de DAS? faturei 30 mil, anexo III, 360 mil nos últimos 12 meses",
    )
    assert raw == {"annex": "iii", "month_revenue": "30000.00", "rbt12": "360000.00"}


def test_simples_das_payroll_is_read_as_payroll():
    raw = extract(
        "simples_das",
        "calcula o DAS: anexo V, faturei 80 mil, 1 milhão nos últimos 12 meses e folha de 280 mil",
    )
    assert raw is not None
    assert (raw["month_revenue"], raw["rbt12"], raw["payroll12"]) == (
        "80000.00",
        "1000000.00",
        "280000.00",
    )


@pytest.mark.parametrize(
    "message", ["quanto é o DAS do MEI?", "registra 1500 de venda", "qual o saldo do mês?"]
)
def test_simples_das_ignores_other_questions(message):
    assert extract("simples_das", message) is None


async def test_simples_das_summary_in_portuguese():
    text = await describe("simples_das", {"annex": "III", "rbt12": 360000, "month_revenue": 30000})
    assert "R$ 2.580,00" in text and "8,60 %" in text and "R$ 9.360,00" in text


# mei_das


async def test_mei_das_2026_for_commerce_and_services():
    # 5 % of R$ 1.621,00 = 81,05, + ICMS 1,00 + ISS 5,00.
    result = await call("mei_das", {"activity": "comércio e serviços", "year": 2026})
    assert (result["inss"], result["total"]) == ("81.05", "87.05")


async def test_mei_das_defaults_to_this_year_in_sao_paulo():
    result = await call("mei_das", {"activity": "servicos"})
    assert (result["year"], result["total"]) == (2026, "86.05")


def test_mei_das_extraction_needs_the_activity():
    assert extract("mei_das", "quanto é o DAS do MEI de serviços?") == {"activity": "servicos"}
    assert extract("mei_das", "quanto é o DAS do MEI?") is None


# pix_brcode


async def test_pix_payload_and_qr():
    result = await call(
        "pix_brcode",
        {"key": "11999998888", "name": "Padaria Sol", "city": "Recife", "amount": 250},
    )
    payload = result["payload"]
    assert payload.startswith("00020126360014br.gov.bcb.pix0114+5511999998888")
    assert "5406250.00" in payload and "5911Padaria Sol6006Recife" in payload
    assert base64.b64decode(result["qr_png_base64"]).startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"key": "x", "name": "Padaria", "city": "Recife"}, "key"),
        (
            {"key": "11999998888", "name": "Padaria Sol do Nordeste Ltda ME", "city": "Recife"},
            "name",
        ),
        ({"key": "11999998888", "name": "Padaria", "city": "Jaboatao dos Guararapes"}, "city"),
        ({"key": "11999998888", "name": "Padaria", "city": "Recife", "amount": 0}, "amount"),
        ({"key": "11999998888", "name": "Padaria", "city": "Recife", "txid": "a b"}, "txid"),
        ({"key": "11999998888", "name": "Padaria", "city": "Recife", "amount": 1e20}, "amount"),
    ],
)
async def test_pix_bad_arguments_name_the_field(raw, field):
    with pytest.raises(ToolArgsError) as error:
        await call("pix_brcode", raw)
    assert [e["field"] for e in error.value.errors] == [field]


def test_pix_is_extracted_from_the_owners_request():
    raw = extract(
        "pix_brcode", "gera um PIX de 250 pra chave 11999998888 nome Padaria Sol cidade Recife"
    )
    assert raw == {
        "key": "11999998888",
        "name": "Padaria Sol",
        "city": "Recife",
        "amount": "250.00",
    }


def test_pix_extraction_with_an_email_key_and_no_amount():
    raw = extract("pix_brcode", "cria um QR code pix na chave vendas@padaria.com.br, nome Padaria")
    assert raw == {"key": "vendas@padaria.com.br", "name": "Padaria"}


def test_pix_questions_without_a_request_are_not_extracted():
    assert extract("pix_brcode", "pix tem taxa para empresa?") is None


async def test_pix_summary_shows_the_amount_and_the_copy_paste_code():
    text = await describe(
        "pix_brcode", {"key": "11999998888", "name": "Padaria Sol", "city": "Recife", "amount": 250}
    )
    assert text.startswith("PIX de R$ 250,00 para Padaria Sol (Recife). Copia e cola: 000201")


# validate_document


async def test_validate_document_json():
    result = await call("validate_document", {"number": "12ABC34501DE35"})
    assert result == {"valid": True, "type": "cnpj", "formatted": "12.ABC.345/01DE-35"}


async def test_an_invalid_cpf_is_a_result_not_an_error():
    result = await call("validate_document", {"number": "123.456.789-00"})
    assert result == {"valid": False, "type": "cpf", "formatted": "123.456.789-00"}


async def test_a_number_that_is_no_document_names_the_field():
    with pytest.raises(ToolArgsError) as error:
        await call("validate_document", {"number": "12345"})
    assert [e["field"] for e in error.value.errors] == ["number"]


def test_document_is_extracted_from_the_question():
    raw = extract("validate_document", "esse CNPJ é válido? 12.ABC.345/01DE-35")
    assert raw == {"number": "12.ABC.345/01DE-35"}


def test_a_cpf_given_in_passing_is_not_a_validation_request():
    assert extract("validate_document", "meu CPF é 123.456.789-09, registra uma despesa") is None


async def test_document_summary():
    text = await describe("validate_document", {"number": "52998224725"})
    assert text.startswith("O CPF 529.982.247-25 é válido")


# business_calendar


async def test_business_calendar_december_2026_in_pernambuco():
    # December 2026: 31 days, 8 weekend days (Sat 5, 12, 19, 26; Sun 6, 13, 20, 27), Christmas
    # on Friday 25 → 22 business days.
    result = await call(
        "business_calendar", {"from": "2026-12-01", "to": "31/12/2026", "state": "pe"}
    )
    assert result == {"business_days": 22, "holidays": [{"date": "2026-12-25", "name": "Natal"}]}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"from": "2026-12-10", "to": "2026-12-01"}, "to"),
        ({"from": "2026-12-01", "to": "2026-12-31", "state": "XX"}, "state"),
        ({"from": "31/02/2026", "to": "2026-12-31"}, "from"),
        ({"from": "0001-01-01", "to": "0001-12-31"}, "from"),
    ],
)
async def test_business_calendar_bad_arguments_name_the_field(raw, field):
    with pytest.raises(ToolArgsError) as error:
        await call("business_calendar", raw)
    assert [e["field"] for e in error.value.errors] == [field]


def test_calendar_extraction_of_a_month_and_a_state():
    raw = extract("business_calendar", "quantos dias úteis tem dezembro em PE?")
    assert raw == {"from": "2026-12-01", "to": "2026-12-31", "state": "PE"}


def test_calendar_extraction_of_a_range():
    raw = extract("business_calendar", "dias úteis entre 01/12 e 15/12")
    assert raw == {"from": "2026-12-01", "to": "2026-12-15"}


async def test_calendar_summary_shows_dates_the_brazilian_way():
    text = await describe("business_calendar", {"from": "2026-12-01", "to": "2026-12-31"})
    assert text.startswith("De 01/12/2026 a 31/12/2026 (feriados nacionais): 22 dias úteis.")
    assert "25/12/2026 (Natal)" in text


# obligations


async def test_obligations_json_with_employees():
    result = await call("obligations", {"month": "2026-12", "regime": "mei", "employees": True})
    by_code = {o["code"]: o for o in result["obligations"]}
    # 20/12/2026 is a Sunday: DAS-MEI on Monday 21, FGTS and the 13º anticipated to Friday 18.
    assert by_code["das_mei"]["due_date"] == "2026-12-21"
    assert by_code["fgts"]["due_date"] == "2026-12-18"
    assert by_code["13_segunda"]["due_date"] == "2026-12-18"
    assert all(o["source"] for o in result["obligations"])


async def test_obligations_bad_month_names_the_field():
    with pytest.raises(ToolArgsError) as error:
        await call("obligations", {"month": "12/2026"})
    assert [e["field"] for e in error.value.errors] == ["month"]


def test_obligations_extraction():
    raw = extract("obligations", "quais os vencimentos de dezembro? sou MEI e tenho 1 funcionário")
    assert raw == {"month": "2026-12", "regime": "mei", "employees": True}


def test_das_amount_questions_are_not_obligations():
    assert extract("obligations", "quanto vou pagar de DAS? faturei 30 mil") is None


async def test_obligations_summary_explains_a_moved_date():
    text = await describe("obligations", {"month": "2026-11", "regime": "simples"})
    assert "23/11/2026: DAS do Simples Nacional (adiado: 20/11 não é dia útil)" in text


# MoneyArg reads Brazilian amounts through finance.amounts


@pytest.mark.parametrize(("text", "value"), [("R$ 1.500,00", "1500"), ("dois mil", "2000")])
def test_money_arguments_read_brazilian_amounts(text, value):
    from decimal import Decimal

    from pydantic import TypeAdapter

    assert TypeAdapter(MoneyArg).validate_python(text) == Decimal(value)


def test_a_cpf_is_not_a_money_argument():
    from pydantic import TypeAdapter, ValidationError

    with pytest.raises(ValidationError):
        TypeAdapter(MoneyArg).validate_python("123.456.789-09")


# Property-based: whatever JSON arrives, a finance tool answers or names a field — never a 500.

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(
        [
            "R$ 1.500,00",
            "dois mil",
            "I",
            "V",
            "III",
            "2026-11",
            "2026-12-01",
            "01/12/2026",
            "PE",
            "52998224725",
            "12.ABC.345/01DE-35",
            "+5511999998888",
            "a@b.co",
            "***",
            "mei",
            "1e999",
        ]
    ),
    st.lists(st.integers(), max_size=2),
)


@pytest.mark.parametrize("name", FINANCE)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
async def test_any_json_arguments_give_a_result_or_a_field_error(name, data):
    spec = TOOLS[name]
    fields = [f.alias or key for key, f in spec.args.model_fields.items()]
    raw = data.draw(st.dictionaries(st.sampled_from([*fields, "extra"]), _json_values))
    try:
        result = await call(name, raw)
    except ToolArgsError as error:
        assert error.errors and all(e["field"] and e["message"] for e in error.errors)
    else:
        assert isinstance(result, dict)


_VALID = {
    "simples_das": {"annex": "V", "rbt12": 1000000, "month_revenue": 80000, "payroll12": 1},
    "mei_das": {"activity": "servicos", "year": 2026},
    "pix_brcode": {"key": "52998224725", "name": "Padaria", "city": "Recife", "amount": 10},
    "validate_document": {"number": "52998224725"},
    "business_calendar": {"from": "2026-12-01", "to": "2026-12-31", "state": "PE"},
    "obligations": {"month": "2026-12", "regime": "mei", "employees": True},
}


@pytest.mark.parametrize("name", FINANCE)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
async def test_one_bad_field_in_valid_arguments_is_accepted_or_a_field_error(name, data):
    """The error may name the field or the one it depends on (months_active → revenue_so_far;
    an early `from` makes the range too long at `to`), but always a field of the tool."""
    spec = TOOLS[name]
    fields = [f.alias or key for key, f in spec.args.model_fields.items() if key != "user_id"]
    field = data.draw(st.sampled_from(fields))
    raw = {**_VALID[name], field: data.draw(_json_values)}
    try:
        await call(name, raw)
    except ToolArgsError as error:
        assert error.errors and {e["field"] for e in error.errors} <= {*fields, "args"}
