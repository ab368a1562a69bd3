"""Request and response bodies of the mini-program's own routes (login); commerce records' bodies are
shared with the staff API (`web.schemas`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from web.schemas import StrictBody


class LoginRequest(StrictBody):
    code: str = Field(min_length=1, max_length=256, description="the code wx.login() gave the mini-program")


class LoginResponse(BaseModel):
    token: str = Field(description="send as `Authorization: Bearer <token>`")
    openid: str
    expires_at: datetime


class Me(BaseModel):
    openid: str
