"""Bearer-token authentication for /mp/.

The dependency only takes the token from the header; the handler checks it in the same transaction
as the work it does (`customer_session`), so a request costs one database transaction, not two.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from bot.customers.errors import NotLoggedIn
from bot.customers.logins import authenticate
from storage.db import transaction
from web.errors import Unauthorized

# auto_error=False: a missing header is refused by us, with our error body, not FastAPI's 403.
bearer = HTTPBearer(auto_error=False, description="the token POST /mp/login returned")


def bearer_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    """The dependency of every route a logged-in customer calls: the token, not yet checked."""
    if credentials is None or not credentials.credentials:
        raise Unauthorized("missing bearer token (Authorization: Bearer <token from POST /mp/login>)")
    return credentials.credentials


@contextmanager
def customer_session(factory: sessionmaker[Session], token: str, now: datetime) -> Iterator[tuple[Session, str]]:
    """One transaction for the request, and the openid the token speaks for (Unauthorized if none)."""
    with transaction(factory) as session:
        try:
            openid = authenticate(session, token=token, now=now)
        except NotLoggedIn as exc:
            raise Unauthorized(exc.message) from None
        yield session, openid
