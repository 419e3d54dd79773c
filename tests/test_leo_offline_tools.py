"""Leo offline answers with his typed tools: the numbers come from the tools, computed exactly,
and the reply says it runs without a language model."""

from __future__ import annotations

from typing import Any

from conftest import chat


def reply_of(events: list[tuple[str, dict[str, Any]]]) -> str:
    return "".join(data["text"] for kind, data in events if kind == "token")


async def test_das_of_the_simples_offline(offline_client: Any) -> None:
    events = await chat(
        offline_client,
        message="quanto vou pagar de DAS? faturei 30 mil esse mês, anexo III, "
        "360 mil nos últimos 12 meses",
        user_id="u-das",
    )
    reply = reply_of(events)
    assert events[0][1]["agent"] == "leo"
    assert "modo offline" in reply
    # (360.000 × 11,2 % − 9.360) / 360.000 = 8,6 %; 30.000 × 8,6 % = 2.580.
    assert "R$ 2.580,00" in reply and "8,60 %" in reply


async def test_alphanumeric_cnpj_offline(offline_client: Any) -> None:
    events = await chat(offline_client, message="esse CNPJ é válido? 12.ABC.345/01DE-35")
    assert "12.ABC.345/01DE-35 é válido" in reply_of(events)
    wrong = await chat(offline_client, message="esse CNPJ é válido? 12.ABC.345/01DE-36")
    assert "não é válido" in reply_of(wrong)
