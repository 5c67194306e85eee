"""get_model("provider:model", **options): the one way to build a model from its name."""

from __future__ import annotations

from reasoning.model_protocol import Model, ModelConfigError, ModelError
from reasoning.models.providers import PROVIDER_INFO, ProviderInfo, provider_info, provider_of, providers


def get_model(spec: str, **options) -> Model:
    """Build a model: "local" (bundled SmolLM2), "local:/path/model.gguf", "openai:gpt-4o-mini"
    (base_url=... for any OpenAI-compatible server), "anthropic:claude-...", "fake" (tests), or a
    plugin's "provider:model". Its provider's module is imported now, not before."""
    spec = (spec or "").strip()
    provider, _, name = spec.partition(":")
    info = provider_info(provider)  # installed plugins' providers join the registry on this first lookup
    if info is None:
        raise ModelConfigError(
            f"unknown provider {provider!r} in model {spec!r}; use one of: "
            + ", ".join(f"{p.name}:NAME" for p in providers())
        )
    return info.builder()(name, **options)


__all__ = ["PROVIDER_INFO", "ModelConfigError", "ModelError", "ProviderInfo", "get_model", "provider_of"]
