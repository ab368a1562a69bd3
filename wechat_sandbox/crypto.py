"""WeChat message-push signatures and the AES envelope, written from the platform docs.

Deliberately independent of werobot (which the service side uses) so that a bug in either
implementation shows up as a failed exchange instead of cancelling out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PAD_BLOCK = 32  # WeChat pads to 32-byte blocks, not AES's 16


class CryptoError(ValueError):
    """A message that cannot be decrypted or does not belong to this app."""


def sign(*parts: str) -> str:
    """sha1 over the lexicographically sorted, concatenated parts (token, timestamp, nonce[, Encrypt])."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def aes_key_from(encoding_aes_key: str) -> bytes:
    key = base64.b64decode(encoding_aes_key + "=")
    if len(key) != 32:
        raise CryptoError("EncodingAESKey must decode to 32 bytes")
    return key


def pkcs7_pad(data: bytes) -> bytes:
    amount = PAD_BLOCK - len(data) % PAD_BLOCK
    return data + bytes([amount]) * amount


def pkcs7_unpad(data: bytes) -> bytes:
    if not data:
        raise CryptoError("empty plaintext")
    amount = data[-1]
    if not 1 <= amount <= PAD_BLOCK or data[-amount:] != bytes([amount]) * amount:
        raise CryptoError("bad padding")
    return data[:-amount]


class MessageCipher:
    """AES-256-CBC with key = b64decode(EncodingAESKey + "=") and IV = key[:16]."""

    def __init__(self, encoding_aes_key: str, app_id: str) -> None:
        self._key = aes_key_from(encoding_aes_key)
        self._app_id = app_id

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def encrypt(self, text: str, random_prefix: bytes | None = None) -> str:
        """16 random bytes + 4-byte big-endian length + text + appid, padded, encrypted, base64."""
        prefix = os.urandom(16) if random_prefix is None else random_prefix
        if len(prefix) != 16:
            raise CryptoError("the random prefix is 16 bytes")
        body = text.encode("utf-8")
        plain = prefix + struct.pack(">I", len(body)) + body + self._app_id.encode("utf-8")
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(pkcs7_pad(plain)) + encryptor.finalize()).decode("ascii")

    def decrypt(self, encrypted: str) -> str:
        """The inverse of encrypt; refuses a message addressed to another appid."""
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CryptoError("Encrypt is not base64") from exc
        if not raw or len(raw) % 16:
            raise CryptoError("ciphertext is not a whole number of AES blocks")
        decryptor = self._cipher().decryptor()
        plain = pkcs7_unpad(decryptor.update(raw) + decryptor.finalize())
        if len(plain) < 20:
            raise CryptoError("plaintext too short")
        (length,) = struct.unpack(">I", plain[16:20])
        body, app_id = plain[20 : 20 + length], plain[20 + length :]
        if len(body) != length:
            raise CryptoError("length field exceeds the plaintext")
        if app_id.decode("utf-8", "replace") != self._app_id:
            raise CryptoError("appid mismatch")
        return body.decode("utf-8")
