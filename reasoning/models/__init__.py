"""get_model("provider:model", **options): the one way to build a model from its name."""

from __future__ import annotations

from reasoning.model_protocol import Model, ModelConfigError, ModelError
from reasoning.models.providers import PROVIDER_INFO, ProviderInfo, provider_of
from reasoning.plugins import load_providers

PROVIDERS = tuple(PROVIDER_INFO)  # the built-ins: local, openai, anthropic, fake


def get_model(spec: str, **options) -> Model:
    """Build a model: "local" (bundled SmolLM2), "local:/path/model.gguf", "openai:gpt-4o-mini"
    (base_url=... for any OpenAI-compatible server), "anthropic:claude-...", "fake" (tests)."""
    spec = (spec or "").strip()
    provider, _, name = spec.partition(":")
    # Installed packages' providers join the table here, on first use, not when this package is
    # imported: a plugin's module may import the engine (reasoning.strategies.base imports this
    # package), and would meet it half-loaded. A no-op once loaded.
    load_providers()
    info = PROVIDER_INFO.get(provider)
    if info is None:
        raise ModelConfigError(
            f"unknown provider {provider!r} in model {spec!r}; use one of: "
            + ", ".join(f"{p}:NAME" for p in PROVIDER_INFO)
        )
    if info.build is not None:
        return info.build(name, **options)
    if provider == "fake":
        from reasoning.models.fake import FakeModel

        return FakeModel(**options) if not name else FakeModel(name=spec, **options)
    if provider == "local":
        from reasoning.models.local import LocalModel

        return LocalModel.open(name or None, **options)
    if not name:
        raise ModelConfigError(f"model {spec!r} names no model; write {provider}:MODEL_NAME")
    if provider == "openai":
        from reasoning.models.openai import OpenAIModel

        return OpenAIModel(name, **options)
    from reasoning.models.anthropic import AnthropicModel

    return AnthropicModel(name, **options)


__all__ = ["PROVIDERS", "PROVIDER_INFO", "ModelConfigError", "ModelError", "ProviderInfo", "get_model", "provider_of"]
