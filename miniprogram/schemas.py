"""Request and response bodies of the mini-program API (they are also its OpenAPI schemas)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    # Unknown members are refused: a misspelt field must not be silently ignored.
    model_config = ConfigDict(extra="forbid")


class LoginRequest(_Body):
    code: str = Field(min_length=1, max_length=256, description="the code wx.login() gave the mini-program")


class LoginResponse(BaseModel):
    token: str = Field(description="send as `Authorization: Bearer <token>`")
    openid: str
    expires_at: datetime


class Me(BaseModel):
    openid: str
