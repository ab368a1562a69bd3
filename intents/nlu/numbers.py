"""Chinese numerals as customers type them: 一百二 (120), 九十五, 两百, 一百零五, 六五 (digit by digit)."""

from __future__ import annotations

DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
NUMERAL_CHARS = "".join(DIGITS) + "十百"


def chinese_number(text: str) -> int | None:
    """The value of a numeral below 1000, or None when `text` is not one."""
    if not text or any(ch not in NUMERAL_CHARS for ch in text):
        return None
    if "百" in text:
        hundreds, _, rest = text.partition("百")
        head = DIGITS.get(hundreds) if hundreds else None
        if head is None or "百" in rest:
            return None
        tail = _below_hundred(rest, colloquial=True)
        return None if tail is None else head * 100 + tail
    return _below_hundred(text, colloquial=False)


def _below_hundred(text: str, *, colloquial: bool) -> int | None:
    if not text:
        return 0
    if text.startswith("零"):  # 一百零五
        rest = text[1:]
        return DIGITS.get(rest) if len(rest) == 1 else None
    if "十" in text:
        tens, _, units = text.partition("十")
        ten_value = DIGITS.get(tens, -1) if tens else 1
        unit_value = DIGITS.get(units, -1) if units else 0
        return None if ten_value < 0 or unit_value < 0 else ten_value * 10 + unit_value
    if len(text) == 1:
        digit = DIGITS.get(text)
        # After 百 a lone digit counts tens: 一百二 is 120, as people say it.
        return None if digit is None else digit * 10 if colloquial else digit
    return spelled_digits(text)


def spelled_digits(text: str) -> int | None:
    """Digits read one by one, as in 一米六五 (六五 = 65)."""
    if not text or any(ch not in DIGITS for ch in text):
        return None
    value = 0
    for ch in text:
        value = value * 10 + DIGITS[ch]
    return value
