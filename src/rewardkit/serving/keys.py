"""The API keys a server accepts: --api-key, $REWARDKIT_SERVER_API_KEY, and --api-key-file (one key per
line, several allowed, re-read when the file changes), so keys need never sit on a command line and
can be rotated without a restart."""

from __future__ import annotations

import hmac
import logging
import os
import time
from pathlib import Path

from rewardkit.errors import InvalidInputError

__all__ = ["ApiKeys", "read_key_file"]

log = logging.getLogger("rewardkit.serving")

RECHECK_S = 1.0
"""How often the key file's modification time is looked at (at most once a second, on requests)."""


def read_key_file(path: str | Path) -> list[bytes]:
    """The keys in ``path``: one per line; blank lines and lines starting with '#' are skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"--api-key-file {path}: cannot be read ({exc})") from None
    keys = [line.strip() for line in text.splitlines()]
    keys = [k.encode("utf-8") for k in keys if k and not k.startswith("#")]
    if not keys:
        raise InvalidInputError(f"--api-key-file {path}: holds no key; write one key per line")
    return keys


class ApiKeys:
    """Checks a bearer token against every accepted key in constant time (no early exit, so the
    time taken says nothing about which key, or how much of one, matched)."""

    def __init__(self, key: str | None = None, key_file: str | None = None) -> None:
        self._fixed = [] if key is None else [key.encode("utf-8")]
        self._file = Path(key_file) if key_file else None
        self._from_file = read_key_file(self._file) if self._file else []
        self._stamp = self._mtime()
        self._checked = time.monotonic()

    @property
    def required(self) -> bool:
        return bool(self._fixed or self._file)

    def accepts(self, token: bytes) -> bool:
        self._reload_if_changed()
        matched = False
        for key in [*self._fixed, *self._from_file]:
            matched |= hmac.compare_digest(token, key)
        return matched

    def _mtime(self) -> float | None:
        try:
            return os.stat(self._file).st_mtime_ns if self._file else None
        except OSError:
            return None

    def _reload_if_changed(self) -> None:
        if self._file is None or time.monotonic() - self._checked < RECHECK_S:
            return
        self._checked = time.monotonic()
        stamp = self._mtime()
        if stamp == self._stamp:
            return
        try:
            self._from_file = read_key_file(self._file)
            log.warning("reloaded %d API key(s) from %s", len(self._from_file), self._file)
        except InvalidInputError as exc:  # keep serving with the keys that worked
            log.warning("%s; keeping the %d key(s) read before", exc, len(self._from_file))
        self._stamp = stamp
