"""Keys out of text that may be shown, stored or logged (provider errors, run errors, URLs).

Known secrets are replaced wherever they appear; anything shaped like a key is cut after a short
prefix, so an error can still say which key was meant ("sk-pro***") without revealing it. URLs lose
their credentials: the user:password@ part and credential-like query parameters (?api_key=...).
A URL with credentials is kept whole only in memory, for the call (`redact_url` gives what may be
stored, logged, exported or shown; `url_secrets` the parts to redact wherever else they turn up).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any
from urllib.parse import unquote_plus

from reasoning.events import Event, Note, TextDelta, ThinkingDelta
from reasoning.models.providers import NO_KEY, base_url_env_vars, key_env_vars

MIN_SECRET_CHARS = 6  # shorter "secrets" (placeholders, test values) would blank ordinary words
PLACEHOLDERS = frozenset({NO_KEY})  # what keyless compatible servers are sent

_KEY_LIKE = re.compile(r"\b(sk-[A-Za-z0-9_\-]{3})[A-Za-z0-9_\-*]{6,}")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+")
_NAMED_KEY = re.compile(r"(?i)\b((?:x-)?api[_-]?key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]{6,}")
# Model option names that would carry a credential (api_key, openai_key, token, ...): such options are
# never stored with a run, and the CLI refuses them (keys come from the environment).
SECRET_OPTION = re.compile(r"(^|_)(api_?key|key|secret|password|passwd|token|auth\w*|credentials?)$", re.I)
# Query parameter names that carry credentials (case-insensitive; a prefix such as client_ or x-
# counts): api_key, key, token, access_token, password, secret, sig(nature), auth, ...
_SECRET_PARAM = re.compile(
    r"(?i)(?:^|[_.-])(?:api[_-]?key|apikey|key|token|access[_-]?token|auth\w*|password|passwd|pwd|pass|secret|"
    r"sig|signature|credentials?|session)$")
# A URL in free text: scheme://, then up to whitespace, a quote or a bracket that ends it.
_URL_IN_TEXT = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s\"'<>`]+")


def redact(text: str, *secrets: str | None) -> str:
    """`text` with each of `secrets` replaced by *** and key-shaped tokens cut short; every URL in it
    loses its credentials (see redact_url)."""
    for secret in sorted({s for s in secrets if _is_secret(s)}, key=len, reverse=True):
        text = text.replace(secret, "***")  # type: ignore[arg-type]
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    text = _KEY_LIKE.sub(r"\1***", text)
    text = _BEARER.sub(r"\1***", text)
    return _NAMED_KEY.sub(r"\1***", text)


def redact_url(url: str) -> str:
    """`url` without its user:password@ part and without credential-like query (or fragment)
    parameters: api_key, key, token, access_token, password, secret, sig, ... in any case. What is
    left still names the server: http://alice:pw@host:8000/v1?api_key=x&v=2 -> http://host:8000/v1?v=2."""
    split = _split_url(url)
    if split is None:
        return url
    scheme, userinfo, host_path, query, fragment = split
    if not userinfo and not _has_secret_param(query) and not _has_secret_param(fragment):
        return url  # nothing to take out: the URL as given (a stored sweep plan hashes it)
    public_query = None if query is None else _public_params(query)
    public_fragment = None if fragment is None else _public_params(fragment)
    out = f"{scheme}://{host_path}"
    if public_query:
        out += "?" + public_query
    if public_fragment:
        out += "#" + public_fragment
    return out


def url_secrets(url: object) -> list[str]:
    """The credentials a URL carries (user:password, each of them, credential parameter values), to
    redact wherever else they appear (a server that echoes them, a traceback that quotes them)."""
    split = _split_url(url)
    if split is None:
        return []
    _scheme, userinfo, _host_path, query, fragment = split
    found = [userinfo, *userinfo.split(":", 1)] if userinfo else []
    for params in (query, fragment):
        for pair in (params or "").split("&"):
            if _is_secret_param(pair):
                found.append(pair.partition("=")[2])
    return sorted({s for value in found for s in (value, unquote_plus(value)) if _is_secret(s)}, key=len, reverse=True)


def _split_url(url: object) -> tuple[str, str, str, str | None, str | None] | None:
    """(scheme, userinfo, host and path, query, fragment) of `url`; None if it is not scheme://...

    Split by hand rather than with urllib: an unescaped / or ? inside a password makes urlsplit put
    part of the password in the path. Here the userinfo runs to the last @ before any ? or #, which
    errs on the side of cutting too much."""
    if not isinstance(url, str):
        return None
    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", url)
    if match is None:
        return None
    rest = url[match.end():]
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    head, tail = rest[:cut], rest[cut:]
    userinfo, at, host_path = head.rpartition("@")
    if not at:
        userinfo, host_path = "", head
    query = fragment = None
    if tail.startswith("?"):
        query, hash_, frag = tail[1:].partition("#")
        fragment = frag if hash_ else None
    elif tail.startswith("#"):
        fragment = tail[1:]
    return match.group(1), userinfo, host_path, query, fragment


def _is_secret_param(pair: str) -> bool:
    return _SECRET_PARAM.search(unquote_plus(pair.partition("=")[0])) is not None


def _has_secret_param(params: str | None) -> bool:
    return params is not None and any(_is_secret_param(p) for p in params.split("&"))


def _public_params(params: str) -> str:
    """`a=1&api_key=x&b=2` -> `a=1&b=2`: the parameters whose names do not say credential."""
    return "&".join(p for p in params.split("&") if p and not _is_secret_param(p))


def base_and_query(url: str | None) -> tuple[str | None, dict[str, str] | None]:
    """A base URL split for an SDK client: the URL without its query, and the query's parameters
    (sent with every request as the client's default query). The SDKs append the request path to
    the base URL's text, so http://h/v1?api_key=k would become http://h/v1/?api_key=kchat/completions."""
    if not url or "?" not in url:
        return url, None
    base, _, query = url.partition("?")
    fragment_free = query.partition("#")[0]
    pairs = [p.partition("=") for p in fragment_free.split("&") if p]
    return base, {unquote_plus(k): unquote_plus(v) for k, _, v in pairs} or None


def redact_options(options: dict[str, object]) -> dict[str, object]:
    """Model options as they may be stored or shown: every URL-valued option without credentials."""
    return {k: redact_url(v) if isinstance(v, str) else v for k, v in options.items()}


class _RedactingFilter(logging.Filter):
    """Rewrites a library's log records without credentials: httpx logs every request's URL at INFO,
    user:password@ and ?api_key= included."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's to report
            return True
        clean = redact(message, *environment_keys())
        if clean != message:
            record.msg, record.args = clean, ()
        return True


# The loggers that write request URLs (a filter applies to its own logger's records only, so each
# one is named). Installed when this module is first imported: every provider imports it.
URL_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2", "openai._base_client", "anthropic._base_client")
_LOG_FILTER = _RedactingFilter()
for _name in URL_LOGGERS:
    logging.getLogger(_name).addFilter(_LOG_FILTER)


def environment_keys(env: os._Environ[str] | dict[str, str] | None = None) -> list[str]:
    """The provider keys of the process environment (the host's keys), and the credentials in its
    provider base URLs (OPENAI_BASE_URL=http://user:password@host/v1)."""
    env = os.environ if env is None else env
    keys = [value for name in key_env_vars() if _is_secret(value := env.get(name, ""))]
    # A base URL may carry user:password@ or ?api_key=.
    return keys + [s for name in base_url_env_vars() for s in url_secrets(env.get(name, ""))]


def string_values(values: Iterable[object]) -> list[str]:
    return [v for v in values if isinstance(v, str)]


def _is_secret(value: object) -> bool:
    return isinstance(value, str) and len(value) >= MIN_SECRET_CHARS and value not in PLACEHOLDERS


class StreamRedactor:
    """Known secrets out of text that arrives in pieces (a model's streamed reply that echoes a key).

    A secret may be split across pieces, so the end of what came in is held back while it could
    still be the start of a secret; everything before it is released at once. `flush` releases
    what is held (it cannot complete a secret any more: the stream moved on)."""

    def __init__(self, secrets: Iterable[str | None]):
        self.secrets = sorted({s for s in secrets if _is_secret(s)}, key=len, reverse=True)  # type: ignore[misc]
        self._held: dict[object, str] = {}

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def text(self, text: str) -> str:
        """One whole text (an answer, a note) without the secrets."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def feed(self, stream: object, piece: str) -> str:
        """The next piece of `stream`; returns the text that can be released now."""
        text = self.text(self._held.pop(stream, "") + piece)
        keep = self._unfinished_secret(text)
        if keep:
            self._held[stream] = text[-keep:]
            return text[:-keep]
        return text

    def flush(self, stream: object) -> str:
        return self._held.pop(stream, "")

    def held_streams(self) -> list[object]:
        return list(self._held)

    def _unfinished_secret(self, text: str) -> int:
        """The length of the longest end of `text` that some secret starts with (0: none)."""
        longest = 0
        for secret in self.secrets:
            for size in range(min(len(secret) - 1, len(text)), longest, -1):
                if text.endswith(secret[:size]):
                    longest = size
                    break
        return longest


class EventRedactor:
    """Known secrets out of a strategy's events before they are stored: streamed text and thinking
    (held back across deltas, see StreamRedactor), answers, notes and errors. A server that echoes
    the key in its reply must not put the key in the event log, the answers or an export."""

    def __init__(self, secrets: Iterable[str | None]):
        self._stream = StreamRedactor(secrets)

    def __bool__(self) -> bool:
        return bool(self._stream)

    def __call__(self, event: Event) -> list[Event]:
        """The events to store in place of `event`: a delta may shrink (or vanish, held back), and
        any other event is preceded by what its strategy's deltas still held."""
        if not self._stream:
            return [event]
        if isinstance(event, TextDelta | ThinkingDelta):
            text = self._stream.feed((type(event), event.label), event.text)
            return [replace(event, text=text)] if text else []
        held: list[Event] = []
        for stream in self._stream.held_streams():
            cls, label = stream  # type: ignore[misc]
            if text := self._stream.flush(stream):
                held.append(cls(label, text))
        return [*held, self._clean(event)]

    def _clean(self, event: Event) -> Event:
        changes = {}
        for name in ("answer", "text", "error"):
            value = getattr(event, name, None)
            if isinstance(value, str) and (clean := self._stream.text(value)) != value:
                changes[name] = clean
        if isinstance(event, Note) and event.data is not None:
            data = self._data(event.data)
            if data != event.data:
                changes["data"] = data
        return replace(event, **changes) if changes else event  # type: ignore[arg-type]

    def _data(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._stream.text(value)
        if isinstance(value, dict):
            return {self._data(k): self._data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._data(v) for v in value)
        return value
