"""Brazilian-real amounts for the graph's nodes: `finance.amounts` under the names nodes use.

The reading rules (identifiers, dates and times are never money; amounts in words) live in
`finance.amounts`, shared with the typed tools.
"""

from __future__ import annotations

from finance.amounts import CENT, AmountMatch, find_amount, fold, format_brl, parse_amount

__all__ = ["CENT", "AmountMatch", "find_brl_amount", "fold", "format_brl", "parse_brl_amount"]

find_brl_amount = find_amount
parse_brl_amount = parse_amount
