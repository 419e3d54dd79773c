"""Dates in an owner's message: "ontem", "dia 28", "28/11", "28/11/2026" → a `date`."""

from __future__ import annotations

import re
from datetime import date, timedelta

_FULL_DATE = re.compile(r"\b(?:dia\s+)?(\d{1,2})/(\d{1,2})(?:/(\d{2}|\d{4}))?\b")
_DAY_ONLY = re.compile(r"\bdia\s+(\d{1,2})\b(?!/)")
_RELATIVE_DAYS = (("anteontem", 2), ("ontem", 1), ("hoje", 0), ("hj", 0))
_DATE_WORDS = re.compile(r"\b(?:anteontem|ontem|hoje|hj)\b", re.IGNORECASE)


def entry_date(folded: str, today: date) -> date:
    """The date a (folded) message speaks of; today when it names none."""
    if match := _FULL_DATE.search(folded):
        day, month, year = match.groups()
        if found := _nearest_date(int(day), int(month), year, today):
            return found
    if match := _DAY_ONLY.search(folded):
        day = int(match.group(1))
        # "dia 28" is this month if that day has come, otherwise last month.
        month_start = today.replace(day=1) if day <= today.day else previous_month(today)
        try:
            return month_start.replace(day=day)
        except ValueError:
            pass
    for word, days_back in _RELATIVE_DAYS:
        if re.search(rf"\b{word}\b", folded):
            return today - timedelta(days=days_back)
    return today


def strip_dates(text: str) -> str:
    """`text` with its dates blanked out (for a description)."""
    for pattern in (_FULL_DATE, _DAY_ONLY, _DATE_WORDS):
        text = pattern.sub(" ", text)
    return text


def previous_month(today: date) -> date:
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def _nearest_date(day: int, month: int, year: str | None, today: date) -> date | None:
    if year:
        years = [int(year) + 2000 if len(year) == 2 else int(year)]
    else:
        # Without a year, "28/12" typed on 5 January means last December: take the nearest.
        years = [today.year - 1, today.year, today.year + 1]
    options = []
    for candidate in years:
        try:
            options.append(date(candidate, month, day))
        except ValueError:
            continue
    return min(options, key=lambda d: abs(d - today)) if options else None
