"""Keys out of text that may be shown, stored or logged (provider errors, run errors).

Known secrets are replaced wherever they appear; anything shaped like a key is cut after a short
prefix, so an error can still say which key was meant ("sk-pro***") without revealing it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

MIN_SECRET_CHARS = 6  # shorter "secrets" (placeholders, test values) would blank ordinary words
KEY_ENV_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")
PLACEHOLDERS = frozenset({"not-needed"})  # what keyless compatible servers are sent

_KEY_LIKE = re.compile(r"\b(sk-[A-Za-z0-9_\-]{3})[A-Za-z0-9_\-*]{6,}")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+")
_NAMED_KEY = re.compile(r"(?i)\b((?:x-)?api[_-]?key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]{6,}")


def redact(text: str, *secrets: str | None) -> str:
    """`text` with each of `secrets` replaced by *** and key-shaped tokens cut short."""
    for secret in sorted({s for s in secrets if _is_secret(s)}, key=len, reverse=True):
        text = text.replace(secret, "***")  # type: ignore[arg-type]
    text = _KEY_LIKE.sub(r"\1***", text)
    text = _BEARER.sub(r"\1***", text)
    return _NAMED_KEY.sub(r"\1***", text)


def environment_keys(env: os._Environ[str] | dict[str, str] | None = None) -> list[str]:
    """The provider keys of the process environment (the host's keys)."""
    env = os.environ if env is None else env
    return [value for name in KEY_ENV_VARS if _is_secret(value := env.get(name, ""))]


def string_values(values: Iterable[object]) -> list[str]:
    return [v for v in values if isinstance(v, str)]


def _is_secret(value: object) -> bool:
    return isinstance(value, str) and len(value) >= MIN_SECRET_CHARS and value not in PLACEHOLDERS
