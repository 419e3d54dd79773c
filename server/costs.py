"""Token usage to money: US dollars from the profile's prices, reais from the YAML's rate."""

from __future__ import annotations

from decimal import Decimal

from graphs.schema import Prices

_MILLION = Decimal(1_000_000)
_PLACES = Decimal("0.000001")


def turn_cost(
    prices: Prices, usd_brl: Decimal, input_tokens: int, output_tokens: int
) -> dict[str, str]:
    """Cost of one reply as decimal strings, so no float rounding reaches a client."""
    usd = (prices.input * input_tokens + prices.output * output_tokens) / _MILLION
    return {
        "usd": str(usd.quantize(_PLACES)),
        "brl": str((usd * usd_brl).quantize(_PLACES)),
    }
