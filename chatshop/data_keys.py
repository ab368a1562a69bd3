"""The keys that seal customers' personal data at rest, from the environment, installed once per process.

`CHATSHOP__DATA__KEYS` ("k2:<base64>,k1:<base64>": the first seals, every one opens) and
`CHATSHOP__DATA__INDEX_KEY` (base64 of 32 bytes, for the phone-number search hash). With the sandbox on
and either unset, a development key is generated once under var/ (mode 600), as the sandbox's pay keys
are; without the sandbox a missing key stops start-up with one line.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from chatshop.settings import Settings, SettingsError
from storage.sealing import Sealer, decode_key, install_sealer, new_key_text, parse_keys

DEV_KEYS_FILE = "sandbox-data-keys.json"
MISSING = ("data.keys: customers' personal data is sealed at rest and needs keys: set CHATSHOP__DATA__KEYS "
           "and CHATSHOP__DATA__INDEX_KEY (`chatshop keys new` prints both)")


def data_sealer(settings: Settings) -> Sealer:
    """The sealer for the configured keys, or the sandbox's development keys where none are configured."""
    keys_text = settings.data.keys.get_secret_value()
    index_text = settings.data.index_key.get_secret_value()
    if not (keys_text and index_text):
        if not settings.sandbox_enabled:
            raise SettingsError(MISSING)
        dev = _load_or_create_dev_keys(settings.sandbox.credentials_path.parent / DEV_KEYS_FILE)
        keys_text, index_text = keys_text or dev["keys"], index_text or dev["index_key"]
    keys, current = parse_keys(keys_text)  # already checked by the settings; any error is theirs
    return Sealer(keys, current=current, index_key=decode_key(index_text, what="data.index_key"))


def install_data_keys(settings: Settings) -> Sealer:
    """Install the process's sealer (the sealed column types and the sealing migration use it)."""
    sealer = data_sealer(settings)
    install_sealer(sealer)
    return sealer


def new_key_id(now: datetime | None = None) -> str:
    """A key id that sorts by when the key was made: k20261205."""
    return (now or datetime.now(UTC)).strftime("k%Y%m%d")


def _load_or_create_dev_keys(path: Path) -> dict[str, str]:
    if path.exists():
        return dict(json.loads(path.read_text(encoding="utf-8")))
    keys = {"keys": f"dev1:{new_key_text()}", "index_key": new_key_text()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(json.dumps(keys, indent=2), encoding="utf-8")
    return keys
