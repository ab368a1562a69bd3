"""Bearer-token authentication for /mp/: a FastAPI dependency that yields the caller's openid."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from commerce.db import transaction
from miniprogram.errors import Unauthorized
from miniprogram.sessions import authenticate

# auto_error=False: a missing header is refused by us, with our error body, not FastAPI's 403.
bearer = HTTPBearer(auto_error=False, description="the token POST /mp/login returned")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("missing bearer token (Authorization: Bearer <token from POST /mp/login>)")
    return credentials.credentials


def openid_dependency(factory: sessionmaker[Session], clock: Callable[[], datetime]) -> Callable[..., str]:
    """The dependency a route declares to be called only by a logged-in customer."""

    def current_openid(credentials: Credentials) -> str:
        token = bearer_token(credentials)
        with transaction(factory) as session:
            return authenticate(session, token=token, now=clock())

    return current_openid
