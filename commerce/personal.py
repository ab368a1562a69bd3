"""A buyer's personal data as the back office may see it: masked by default, findable by phone number
through a keyed hash (the address itself is sealed at rest, storage.sealing)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from storage.sealing import installed_sealer

PHONE_PURPOSE = "phone"
# Parts of an address shown to everyone: where the parcel goes, to the district, never the door.
PLACE_FIELDS = ("province", "city", "district")
ADDRESS_FIELDS_REVEALED = ("name", "phone", "detail", "postal_code")
_DIGITS = re.compile(r"\D+")


def phone_digits(phone: str) -> str:
    """The number as digits only, without China's country code: "+86 138-1234-5678" → 13812345678."""
    digits = _DIGITS.sub("", phone)
    if len(digits) == 13 and digits.startswith("861"):
        return digits[2:]
    return digits


def phone_index(phone: str) -> str:
    """The keyed hash orders.phone_hash holds for `phone` (the same for any way of writing the number)."""
    return installed_sealer().blind_index(phone_digits(phone), purpose=PHONE_PURPOSE)


def mask_phone(phone: str) -> str:
    """138****0000: the first three and last four digits (enough to tell two numbers of a customer apart)."""
    digits = phone_digits(phone)
    if len(digits) < 8:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


def mask_name(name: str) -> str:
    """张*, 欧阳** : the first character only."""
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""


def masked_address(address: Mapping[str, str]) -> dict[str, str]:
    """The address with the name, phone and the door masked; province, city and district as they are."""
    masked = {key: address[key] for key in PLACE_FIELDS if address.get(key)}
    masked["name"] = mask_name(address.get("name", ""))
    masked["phone"] = mask_phone(address.get("phone", ""))
    masked["detail"] = "****"
    if address.get("postal_code"):
        masked["postal_code"] = "****"
    return masked


MOBILE_IN_TEXT = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def mask_phones_in_text(text: str) -> str:
    """Mobile numbers inside free text (a customer's message) masked as 138****0000."""
    return MOBILE_IN_TEXT.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
