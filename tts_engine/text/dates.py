"""Dates and times.

Dates: dd/mm/yyyy, dd-mm-yyyy, dd.mm.yyyy (day first, as written in India; two-digit years too)
and ISO yyyy-mm-dd, read as "day month year" with the month's name from CLDR (babel). A date
that cannot be one (32/13/2024) is left to the number rules.
Times: h:mm, with AM/PM said as the part of the day in Indian languages ("सुबह", "शाम"). In
languages that have them, quarter hours are said the way people say them ("सवा दस", "साढ़े दस",
"पौने ग्यारह"; "डेढ़" and "ढाई" for 1:30 and 2:30). A word after the time that the reading
already says ("10:30 बजे") is taken into it.
"""

from __future__ import annotations

import re
from functools import lru_cache

from babel import Locale

from .languages import Language
from .ordinals import ordinal
from .patterns import alternation
from .script import WORD
from .words import cardinal, year

DATE = re.compile(
    rf"(?<![{WORD}.,/:-])"
    r"(?:(?P<d>\d{1,2})(?P<sep>[/.-])(?P<m>\d{1,2})(?P=sep)(?P<y>\d{4}|\d{2})"
    r"|(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2}))"
    rf"(?![{WORD}/:-]|[.,]\d)"
)
_AMPM = r"(?P<ampm>[AaPp]\.?[Mm](?![A-Za-z])\.?)"


def time_pattern(lang: Language) -> re.Pattern[str]:
    after = rf"(?:\s*(?P<after>{alternation(lang.hour_after)})(?![{WORD}]))?" if lang.hour_after else ""
    return re.compile(
        rf"(?<![{WORD}.,:/-])(?P<h>\d{{1,2}})"
        rf"(?=:\d\d(?![\d:])|\s?[AaPp]\.?[Mm](?![A-Za-z]))"
        rf"(?::(?P<m>\d\d))?(?:\s?{_AMPM})?" + after
    )


@lru_cache(maxsize=64)
def month_name(month: int, locale: str) -> str:
    return str(Locale.parse(locale).months["format"]["wide"][month])


def read_date(m: re.Match[str], lang: Language) -> str:
    day, month = int(m["d"] or m["id"]), int(m["m"] or m["im"])
    raw_year = m["y"] or m["iy"]
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return m.group(0)
    name = month_name(month, lang.months)
    said_year = year(int(raw_year), lang) if len(raw_year) == 4 else cardinal(int(raw_year), lang)
    if lang.numbers == "en":  # "fifteenth August twenty twenty-four"
        return f"{ordinal(day, lang)} {name} {said_year}"
    return f"{cardinal(day, lang)} {name} {said_year}"


def _day_part(hour: int, ampm: str, parts: tuple[str, str, str, str]) -> str:
    morning, afternoon, evening, night = parts
    if ampm.startswith("a"):
        return night if hour == 12 or hour < 4 else morning
    if hour == 12 or hour < 4:
        return afternoon
    return evening if hour < 7 else night


def read_time(m: re.Match[str], lang: Language) -> str:
    hour, minute = int(m["h"]), int(m["m"] or 0)
    ampm = (m["ampm"] or "").replace(".", "").lower()
    if hour > 24 or minute > 59 or (ampm and not 1 <= hour <= 12):
        return m.group(0)
    if lang.numbers == "en":
        said = cardinal(hour, lang)
        if minute:
            said += f" oh {cardinal(minute, lang)}" if minute < 10 else f" {cardinal(minute, lang)}"
        elif not ampm:
            said = lang.hour.format(h=said)
        return f"{said} {ampm.upper()}" if ampm else said
    said = _clock(hour, minute, lang)
    if ampm and lang.day_parts:
        said = f"{_day_part(hour, ampm, lang.day_parts)} {said}"
    return said


def _clock(hour: int, minute: int, lang: Language) -> str:
    if lang.quarters and minute in (15, 30, 45) and 1 <= hour <= 12:
        quarter, half, to, one_half, two_half = lang.quarters
        if minute == 15:
            return f"{quarter} {lang.hour.format(h=cardinal(hour, lang))}"
        if minute == 45:
            return f"{to} {lang.hour.format(h=cardinal(hour % 12 + 1, lang))}"
        if hour in (1, 2):
            return lang.hour.format(h=one_half if hour == 1 else two_half)
        return f"{half} {lang.hour.format(h=cardinal(hour, lang))}"
    if not minute:
        return lang.hour.format(h=cardinal(hour, lang))
    return lang.time.format(h=cardinal(hour, lang), m=cardinal(minute, lang))
