"""Refusals of outreach: templates, consent, campaigns."""

from __future__ import annotations

from bot.errors import BotError


class OutreachError(BotError):
    """Outreach refused or failed; nothing was changed."""

    code = "OUTREACH_ERROR"


class TemplatesError(OutreachError):
    """A template registry file that cannot be used; `problems` are its faults, each `FILE: what`."""

    code = "INVALID_TEMPLATES"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems), problems=problems)
        self.problems = problems


class UnknownTemplate(OutreachError):
    """No template of the registry has this id (WeChat would answer 40037)."""

    code = "UNKNOWN_TEMPLATE"
    errcode = 40037


class InvalidTemplateData(OutreachError):
    """A value does not fit its field's type (WeChat would answer 47003); `field` and `rule` say which."""

    code = "INVALID_TEMPLATE_DATA"
    errcode = 47003

    def __init__(self, field: str, rule: str, value: str = "") -> None:
        super().__init__(f"{field}: {rule}", field=field, rule=rule, value=value[:40] or None)
        self.field, self.rule = field, rule


class InvalidConsent(OutreachError):
    """A consent record that is not what wx.requestSubscribeMessage returns."""

    code = "INVALID_CONSENT"


class CampaignNotFound(OutreachError):
    """No campaign has this id."""

    code = "CAMPAIGN_NOT_FOUND"


class CampaignStateError(OutreachError):
    """The campaign's state does not allow this (e.g. editing one that is sending)."""

    code = "CAMPAIGN_STATE"


class InvalidCampaign(OutreachError):
    """A campaign that cannot be saved: a bad audience, template, data, time or throttle."""

    code = "INVALID_CAMPAIGN"
