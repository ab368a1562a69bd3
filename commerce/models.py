"""Tables of the system of record (catalog, carts, orders, payments) live here."""

from __future__ import annotations
