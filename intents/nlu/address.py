"""A shipping address in a customer's own words: "改成 张三 13812345678 广州市天河区体育西路1号"."""

from __future__ import annotations

import re

MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
# Words around an address that are not part of it.
LABELS = re.compile(
    r"(收件人|收货人|联系方式|手机号码?|新的?(?:收货|收件)?地址|收货地址|收件地址|地址|信息"
    r"|改成|改为|换成|寄到|送到|姓名|电话)[:：是为]?"
)
NAME = re.compile(r"^[\u4e00-\u9fff·]{2,5}$")
# An address names at least one of these.
PLACE = re.compile(r"[省市区县镇乡村路街道巷弄号栋幢楼室]")
SEPARATORS = re.compile(r"[\s,，;；、/]+")


def parse_address(text: str) -> dict[str, str] | None:
    """name, phone and detail when the text holds all three; None otherwise."""
    phone = MOBILE.search(text)
    if phone is None:
        return None
    parts = [part for part in SEPARATORS.split(LABELS.sub(" ", text.replace(phone.group(), " "))) if part]
    name = next((part for part in parts if NAME.match(part) and not PLACE.search(part)), None)
    detail = "".join(part for part in parts if part != name)
    if name is None or len(detail) < 6 or not PLACE.search(detail):
        return None
    return {"name": name, "phone": phone.group(), "detail": detail}
