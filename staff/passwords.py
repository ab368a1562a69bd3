"""Password hashes: argon2id through argon2-cffi, with its RFC 9106 defaults."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

# Verified against when the username is unknown, so that a miss costs as long as a wrong password
# and the answer's timing does not tell which usernames exist.
_DECOY_HASH = _hasher.hash("decoy password, never a real one")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DECOY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's (rehash on the next login)."""
    return _hasher.check_needs_rehash(stored_hash)
