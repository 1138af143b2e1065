"""Move every date in a sample payload forward by whole days, so sample calls look recent.

Whole days keep each timestamp in its own format (12-hour clocks, offsets, epoch seconds or
milliseconds) and its time of day; the shift is the largest that leaves the newest date in the
payload no later than now.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qsl, urlencode

_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?=[T ]\d{2}:\d{2})")
_US_DATE = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})/(\d{4})(?= \d{1,2}:\d{2})")
_RFC_DATE = re.compile(
    r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4})\b"
)
_EPOCH = re.compile(r"(?<![\d.])(1[4-9]\d{8}(?:\d{3})?)(?![\d])")
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def _dates(text: str) -> list[date]:
    found = [date(int(y), int(m), int(d)) for y, m, d in _ISO_DATE.findall(text)]
    found += [date(int(y), int(m), int(d)) for m, d, y in _US_DATE.findall(text)]
    found += [date(int(y), _MONTHS.index(mon) + 1, int(d)) for _, d, mon, y in _RFC_DATE.findall(text)]
    for raw in _EPOCH.findall(text):
        seconds = int(raw) / (1000 if len(raw) == 13 else 1)
        found.append(datetime.fromtimestamp(seconds, UTC).date())
    return found


def shift_days(text: str, today: date | None = None) -> int:
    dates = _dates(text)
    if not dates:
        return 0
    # One day less than the gap, so a time of day later than now does not land in the future.
    return max(((today or datetime.now(UTC).date()) - max(dates)).days - 1, 0)


def _shift_text(text: str, days: int) -> str:
    delta = timedelta(days=days)

    def iso(m: re.Match[str]) -> str:
        return (date(int(m[1]), int(m[2]), int(m[3])) + delta).isoformat()

    def us(m: re.Match[str]) -> str:
        moved = date(int(m[3]), int(m[1]), int(m[2])) + delta
        return f"{moved.month}/{moved.day}/{moved.year}"

    def rfc(m: re.Match[str]) -> str:
        moved = date(int(m[4]), _MONTHS.index(m[3]) + 1, int(m[2])) + delta
        return f"{_DAYS[moved.weekday()]}, {moved.day:02d} {_MONTHS[moved.month - 1]} {moved.year}"

    def epoch(m: re.Match[str]) -> str:
        raw = m[1]
        factor = 1000 if len(raw) == 13 else 1
        return str(int(raw) + days * 86400 * factor)

    for pattern, replace in ((_ISO_DATE, iso), (_US_DATE, us), (_RFC_DATE, rfc), (_EPOCH, epoch)):
        text = pattern.sub(replace, text)
    return text


def redate(payload: bytes, is_form: bool, today: date | None = None) -> bytes:
    text = payload.decode("utf-8")
    if is_form:
        pairs = parse_qsl(text.strip(), keep_blank_values=True)
        days = shift_days("\n".join(v for _, v in pairs), today)
        return urlencode([(k, _shift_text(v, days)) for k, v in pairs]).encode()
    return _shift_text(text, shift_days(text, today)).encode("utf-8")
