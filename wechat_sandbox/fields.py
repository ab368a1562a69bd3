"""Subscribe-message data validation: WeChat checks each value by its key's type prefix."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from .errors import WeChatError

CJK = "\u4e00-\u9fff\u3400-\u4dbf"
KEY_PATTERN = re.compile(r"^([a-z_]+?)(\d+)$")
DATE_PART = r"(\d{4})(?:-|/|年)(\d{1,2})(?:-|/|月)(\d{1,2})日?"
TIME_PART = r"([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?"
DATETIME_WITH_TIME = re.compile(rf"^(?:{DATE_PART}\s*)?{TIME_PART}$")
DATETIME_WITH_DATE = re.compile(rf"^{DATE_PART}(?:\s*{TIME_PART})?$")
AMOUNT = re.compile(r"^[¥￥$€£]\d{1,10}(?:\.\d{1,2})?元?$")
NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
LETTER = re.compile(r"^[A-Za-z]+$")
CHAR_STRING = re.compile(r"^[\x21-\x7e]+$")  # digits, letters, symbols; no spaces, no CJK
PHONE = re.compile(r"^[0-9+\-() ]+$")
CJK_ONLY = re.compile(rf"^[{CJK}·]+$")
NO_CJK = re.compile(rf"^[^{CJK}]+$")
PLATE_MIDDLE = re.compile(r"^[A-Za-z0-9]*$")
PLATE_END = re.compile(rf"^[A-Za-z0-9{CJK}]$")


def _is_real_date(match: re.Match[str]) -> bool:
    year, month, day = match.group(1), match.group(2), match.group(3)
    if year is None:
        return True
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


def _each_point(value: str, pattern: re.Pattern[str]) -> bool:
    # Both "time" and "date" may name a period: two points joined by "~".
    points = [p.strip() for p in value.split("~")]
    if len(points) > 2:
        return False
    for point in points:
        match = pattern.match(point)
        if match is None or not _is_real_date(match):
            return False
    return True


def _is_time(value: str) -> bool:
    return _each_point(value, DATETIME_WITH_TIME)


def _is_date(value: str) -> bool:
    return _each_point(value, DATETIME_WITH_DATE)


def _is_amount(value: str) -> bool:
    return AMOUNT.match(value) is not None


def _is_number(value: str) -> bool:
    return len(value) <= 32 and NUMBER.match(value) is not None


def _is_letter(value: str) -> bool:
    return len(value) <= 32 and LETTER.match(value) is not None


def _is_symbol(value: str) -> bool:
    return len(value) <= 5 and all(not ch.isalnum() and not ch.isspace() for ch in value)


def _is_character_string(value: str) -> bool:
    return len(value) <= 32 and CHAR_STRING.match(value) is not None


def _is_phone_number(value: str) -> bool:
    return len(value) <= 17 and PHONE.match(value) is not None


def _is_car_number(value: str) -> bool:
    # The first and last character may be Chinese (province, 挂/学); the rest letters or digits.
    if len(value) > 8:
        return False
    if len(value) == 1:
        return PLATE_END.match(value) is not None
    ends_ok = PLATE_END.match(value[0]) and PLATE_END.match(value[-1])
    return bool(ends_ok) and PLATE_MIDDLE.match(value[1:-1]) is not None


def _is_name(value: str) -> bool:
    if CJK_ONLY.match(value):
        return len(value) <= 10
    return NO_CJK.match(value) is not None and len(value) <= 20


def _is_phrase(value: str) -> bool:
    return len(value) <= 5 and CJK_ONLY.match(value) is not None


def _is_thing(value: str) -> bool:
    return len(value) <= 20


VALIDATORS: dict[str, Callable[[str], bool]] = {
    "thing": _is_thing,
    "number": _is_number,
    "amount": _is_amount,
    "time": _is_time,
    "date": _is_date,
    "character_string": _is_character_string,
    "phone_number": _is_phone_number,
    "letter": _is_letter,
    "symbol": _is_symbol,
    "car_number": _is_car_number,
    "name": _is_name,
    "phrase": _is_phrase,
}


def _invalid(key: str, why: str) -> WeChatError:
    return WeChatError(47003, f"data.{key}.value {why}")


def validator_for(key: str) -> Callable[[str], bool] | None:
    """The rule for a keyword such as "thing3" (by its type prefix), or None for an unknown type."""
    match = KEY_PATTERN.match(key)
    return VALIDATORS.get(match.group(1)) if match else None


def validate_field(key: str, entry: Any) -> None:
    validator = validator_for(key)
    if validator is None:
        raise WeChatError(47003, f"data.{key} unknown keyword type")
    # WeChat reads data.<key>.value: a bare string or a missing "value" reads as empty.
    if not isinstance(entry, dict) or not isinstance(entry.get("value"), str):
        raise _invalid(key, "is empty")
    value: str = entry["value"]
    if not value.strip():
        raise _invalid(key, "is empty")
    if not validator(value):
        raise _invalid(key, "invalid or exceeds limit")


def validate_data(data: Any) -> None:
    """Raise 47003 naming the first bad key, as WeChat does."""
    if not isinstance(data, dict) or not data:
        raise WeChatError(47003, "data is empty")
    for key, entry in data.items():
        validate_field(str(key), entry)
