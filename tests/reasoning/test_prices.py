"""Prices: genai-prices lookups, the override file, and costs that agree with genai-prices' own sums."""

from __future__ import annotations

import math

import genai_prices
import pytest

from reasoning.model_protocol import Usage
from reasoning.prices import FREE, PRICES_ENV, UNKNOWN, PriceFileError, price_file_path, price_for


@pytest.fixture
def prices_file(tmp_path, monkeypatch):
    path = tmp_path / "prices.toml"
    monkeypatch.setenv(PRICES_ENV, str(path))
    return path


@pytest.mark.parametrize(
    ("model", "provider", "ref"),
    [
        ("openai:gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("anthropic:claude-sonnet-4-5-20250929", "anthropic", "claude-sonnet-4-5-20250929"),
        ("anthropic:claude-3-5-haiku-latest", "anthropic", "claude-3-5-haiku-latest"),
    ],
)
def test_cost_matches_genai_prices_own_calculation(model, provider, ref):
    price = price_for(model)
    assert price.known and price.source.startswith(f"genai-prices {provider}/")
    assert price.price_date == f"genai-prices {genai_prices.__version__} bundled data"
    # 1,000 of the 3,000 output tokens are reasoning: part of output, so priced once.
    usage = Usage(input_tokens=12_000, output_tokens=3_000, reasoning_tokens=1_000, cached_input_tokens=4_000)
    theirs = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=12_000, cache_read_tokens=4_000, output_tokens=3_000,
                           output_reasoning_tokens=1_000),
        ref,
        provider_id=provider,
    )
    assert math.isclose(price.cost(usage), float(theirs.total_price), rel_tol=1e-9)
    # Cached input is cheaper than fresh input for these models.
    assert price.cost(usage) < price.cost(Usage(12_000, 3_000))


def test_reasoning_tokens_do_not_add_cost():
    price = price_for("openai:gpt-4o-mini")
    assert price.cost(Usage(100, 50, reasoning_tokens=40)) == price.cost(Usage(100, 50))


def test_local_and_fake_models_are_free():
    assert price_for("local:smollm2") is FREE
    assert price_for("local:/models/qwen.gguf") is FREE
    assert price_for("fake:scripted") is FREE
    assert FREE.cost(Usage(10_000, 10_000)) == 0


def test_unknown_models_are_unknown():
    assert price_for("openai:my-vllm-model") is UNKNOWN
    assert price_for("anthropic:not-a-claude") is UNKNOWN
    assert not UNKNOWN.known


def test_base_url_selects_the_provider():
    # A self-hosted server: even a well-known name is not OpenAI's price there.
    assert price_for("openai:gpt-4o-mini", base_url="http://127.0.0.1:8000/v1") is UNKNOWN
    assert price_for("openai:gpt-4o-mini", base_url="https://api.openai.com/v1") == price_for("openai:gpt-4o-mini")
    groq = price_for("openai:llama-3.3-70b-versatile", base_url="https://api.groq.com/openai/v1")
    assert groq.known and groq.source.startswith("genai-prices groq/")


def test_tiered_prices_take_the_base_tier():
    price = price_for("anthropic:claude-sonnet-4-5")
    assert price.source.endswith("(base tier)")
    assert (price.input_per_mtok, price.output_per_mtok) == (3.0, 15.0)


def test_override_file_wins(prices_file):
    prices_file.write_text(
        '["openai:my-vllm-model"]\n'
        "input_per_mtok = 0.2\noutput_per_mtok = 0.6\ncached_input_per_mtok = 0.05\nprice_date = 2025-06-01\n"
        '["openai:gpt-4o-mini"]\ninput_per_mtok = 1\noutput_per_mtok = 2\n'
        '["local:smollm2"]\ninput_per_mtok = 0.01\noutput_per_mtok = 0.02\n'
    )
    vllm = price_for("openai:my-vllm-model")
    assert (vllm.input_per_mtok, vllm.output_per_mtok, vllm.cached_input_per_mtok) == (0.2, 0.6, 0.05)
    assert vllm.source == f"override file {prices_file}"
    assert vllm.price_date == "2025-06-01"
    assert math.isclose(vllm.cost(Usage(1_000_000, 1_000_000, cached_input_tokens=500_000)), 0.1 + 0.025 + 0.6)
    mini = price_for("openai:gpt-4o-mini")
    assert (mini.input_per_mtok, mini.output_per_mtok, mini.cached_input_per_mtok) == (1.0, 2.0, None)
    assert mini.price_date and mini.price_date[:2] == "20"  # the file's date when the entry gives none
    assert price_for("local:smollm2").output_per_mtok == 0.02
    assert price_for("anthropic:claude-3-5-haiku-latest").source.startswith("genai-prices")


def test_override_file_is_reread_after_an_edit(prices_file):
    prices_file.write_text('["openai:x"]\ninput_per_mtok = 1\noutput_per_mtok = 2\n')
    assert price_for("openai:x").input_per_mtok == 1
    prices_file.write_text('["openai:x"]\ninput_per_mtok = 3.5\noutput_per_mtok = 2\n')
    assert price_for("openai:x").input_per_mtok == 3.5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('["openai:x"]\ninput_per_mtok = 1\n', r'entry \["openai:x"\]: output_per_mtok is missing'),
        ('["openai:x"]\ninput_per_mtok = -1\noutput_per_mtok = 2\n', r'entry \["openai:x"\]: input_per_mtok must be'),
        ('["openai:x"]\ninput_per_mtok = "cheap"\noutput_per_mtok = 2\n', r"input_per_mtok must be a number"),
        ('["openai:x"]\ninput_per_mtok = 1\noutput_per_mtok = 2\noutput = 3\n', r"unknown key\(s\) output"),
        ('["gpt-4o-mini"]\ninput_per_mtok = 1\noutput_per_mtok = 2\n', r'entry \["gpt-4o-mini"\]: name the model'),
        ('"openai:x" = 3\n', r'entry \["openai:x"\]: expected a table'),
        ('["openai:x"]\ninput_per_mtok = 1\noutput_per_mtok = 2\nprice_date = 7\n', r"price_date must be a date"),
        ('["openai:x"\ninput_per_mtok = 1\n', r"is not valid TOML"),
    ],
)
def test_malformed_override_file_names_file_and_entry(prices_file, text, message):
    prices_file.write_text(text)
    with pytest.raises(PriceFileError, match=message) as info:
        price_for("openai:gpt-4o-mini")
    assert str(prices_file) in str(info.value)


def test_missing_explicit_override_file_is_an_error(prices_file):
    with pytest.raises(PriceFileError, match=f"{PRICES_ENV} points at .*which does not exist"):
        price_for("openai:gpt-4o-mini")


def test_default_override_path_is_in_the_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv(PRICES_ENV, raising=False)
    monkeypatch.setenv("BUDGET_ARENA_DATA_DIR", str(tmp_path))
    assert price_file_path() == tmp_path / "prices.toml"
    assert price_for("openai:my-vllm-model") is UNKNOWN  # no file there: no overrides, no error
    (tmp_path / "prices.toml").write_text('["openai:my-vllm-model"]\ninput_per_mtok = 1\noutput_per_mtok = 1\n')
    assert price_for("openai:my-vllm-model").known
