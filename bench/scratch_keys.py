"""Data keys for benchmarks on scratch databases: personal data is sealed at rest (storage.sealing), and a
benchmark that writes orders or conversations without the service needs keys installed. These are fixed
(every process of a benchmark opens what the others sealed) and public: never use them for a store."""

from __future__ import annotations

import base64
import hashlib

from storage.sealing import Sealer, install_sealer

_KEY = hashlib.sha256(b"chatshop bench scratch data key").digest()
_INDEX_KEY = hashlib.sha256(b"chatshop bench scratch index key").digest()


def install_scratch_keys() -> None:
    install_sealer(Sealer({"bench": _KEY}, current="bench", index_key=_INDEX_KEY))


def scratch_key_environment() -> dict[str, str]:
    """The same keys for a `chatshop serve` the benchmark starts, so it opens what the benchmark sealed."""
    return {"CHATSHOP__DATA__KEYS": "bench:" + base64.b64encode(_KEY).decode(),
            "CHATSHOP__DATA__INDEX_KEY": base64.b64encode(_INDEX_KEY).decode()}
