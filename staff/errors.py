"""The staff API's own refusals (domain refusals are mapped in `web.json_api`)."""

from __future__ import annotations

from web.errors import ApiError


class AdminDisabled(ApiError):
    code = "ADMIN_DISABLED"
    status = 503
