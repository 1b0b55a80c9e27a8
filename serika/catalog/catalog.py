"""Loading the catalog and deciding which models are usable with the configured providers."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import orjson

from serika.config import Settings, SettingsError
from serika.errors import ModelNotFound, ProviderNotConfigured

MODEL_TYPES = {"text", "image"}
TIERS = {"free", "premium"}
UPSTREAM_PROVIDERS = ("openrouter", "openai", "azure", "novelai", "tensorart")


@dataclass(frozen=True, slots=True)
class Model:
    id: str
    name: str
    type: str
    tier: str
    provider: str
    description: str = ""
    upstream_id: str = ""
    quality: str = ""
    jobs_only: bool = False
    aliases: tuple[str, ...] = ()
    created: int = 0
    prompt_price: float = 0.0
    completion_price: float = 0.0
    image_price: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict)

    def cost_micro_usd(self, prompt_tokens: int, completion_tokens: int, images: int) -> int:
        """Cost in millionths of a dollar (prices are per million tokens, and per image)."""
        return round(
            prompt_tokens * self.prompt_price
            + completion_tokens * self.completion_price
            + images * self.image_price * 1_000_000
        )

    @property
    def upstream_model(self) -> str:
        return self.upstream_id or self.id

    def public(self) -> dict[str, Any]:
        """The object ``GET /models`` answers."""
        return {
            "id": self.id,
            "object": "model",
            "created": self.created,
            "owned_by": self.id.split("/", 1)[0] if "/" in self.id else self.provider,
            "name": self.name,
            "description": self.description,
            "type": self.type,
            "tier": self.tier,
            "provider": self.provider,
            "jobs_only": self.jobs_only,
        }


_KNOWN = {f for f in Model.__dataclass_fields__ if f != "extra"}


def _model(entry: Mapping[str, Any], created: int, prices: Mapping[str, Any]) -> Model:
    for name in ("id", "name", "type", "tier", "provider"):
        if not isinstance(entry.get(name), str) or not entry[name]:
            raise SettingsError(f"catalog entry {entry.get('id')!r} needs a string {name!r}")
    if entry["type"] not in MODEL_TYPES:
        raise SettingsError(f"model {entry['id']}: type must be one of {sorted(MODEL_TYPES)}")
    if entry["tier"] not in TIERS:
        raise SettingsError(f"model {entry['id']}: tier must be one of {sorted(TIERS)}")
    known = {k: v for k, v in entry.items() if k in _KNOWN}
    known["aliases"] = tuple(entry.get("aliases", ()))
    known.setdefault("created", created)
    tier_prices = prices.get(entry["tier"], {})
    for name in ("prompt", "completion", "image"):
        value = entry.get(f"{name}_price", tier_prices.get(name, 0.0))
        if not isinstance(value, (int, float)) or value < 0:
            raise SettingsError(f"model {entry['id']}: {name} price must be a number >= 0")
        known[f"{name}_price"] = float(value)
    extra = {k: v for k, v in entry.items() if k not in _KNOWN and k != "disabled"}
    return Model(**known, extra=extra)


def default_entries() -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
    text = resources.files("serika.catalog").joinpath("models.toml").read_text("utf-8")
    data = tomllib.loads(text)
    return int(data["created"]), dict(data["prices"]), list(data["models"])


def configured_providers(settings: Settings) -> set[str]:
    """Upstream providers that have what they need to be called."""
    ready = set()
    if settings.openrouter_api_key:
        ready.add("openrouter")
    if settings.openai_api_key:
        ready.add("openai")
    if settings.azure_api_key and settings.azure_endpoint:
        ready.add("azure")
    if settings.novelai_api_key:
        ready.add("novelai")
    if settings.tensorart_api_key:
        ready.add("tensorart")
    for name, provider in dict(settings.extra.get("providers", {})).items():
        if isinstance(provider, Mapping) and provider.get("base_url"):
            ready.add(str(name))
    return ready


def demo_enabled(settings: Settings) -> bool:
    if settings.demo_models == "on":
        return True
    if settings.demo_models == "off":
        return False
    return not (configured_providers(settings) & set(UPSTREAM_PROVIDERS))


class Catalog:
    """Every known model, and the usable ones, by id and alias."""

    def __init__(self, models: Iterable[Model], usable_providers: set[str]) -> None:
        self._all = {m.id: m for m in models}
        self._usable = [m for m in self._all.values() if m.provider in usable_providers]
        self._by_name: dict[str, Model] = {}
        for model in self._usable:
            self._by_name[model.id] = model
            for alias in model.aliases:
                self._by_name.setdefault(alias, model)
        listing = {"object": "list", "data": [m.public() for m in self._usable]}
        self.listing_json: bytes = orjson.dumps(listing)

    @classmethod
    def from_settings(cls, settings: Settings) -> Catalog:
        created, prices, entries = default_entries()
        for tier, overrides in dict(settings.extra.get("prices", {})).items():
            prices[tier] = {**prices.get(tier, {}), **dict(overrides)}
        merged: dict[str, dict[str, Any]] = {e["id"]: dict(e) for e in entries}
        for override in settings.extra.get("models", []):
            if not isinstance(override, Mapping) or not isinstance(override.get("id"), str):
                raise SettingsError("each [[models]] entry in the settings file needs an id")
            if override.get("disabled"):
                merged.pop(override["id"], None)
                continue
            merged[override["id"]] = {**merged.get(override["id"], {}), **override}
        usable = configured_providers(settings)
        if demo_enabled(settings):
            usable.add("demo")
        return cls((_model(e, created, prices) for e in merged.values()), usable)

    def usable(self) -> list[Model]:
        return list(self._usable)

    def for_call(self, model_id: str) -> Model:
        """The model to call: 404 when unknown, 503 when its provider is not configured."""
        model = self._by_name.get(model_id)
        if model is not None:
            return model
        known = self._all.get(model_id) or next(
            (m for m in self._all.values() if model_id in m.aliases), None
        )
        if known is not None:
            raise ProviderNotConfigured(
                f"The model '{model_id}' is served by the provider '{known.provider}', "
                "which is not configured on this server.",
                param="model",
            )
        raise ModelNotFound(f"The model '{model_id}' does not exist", param="model")

    def default_text_model(self) -> Model | None:
        texts = [m for m in self._usable if m.type == "text"]
        free = [m for m in texts if m.tier == "free"]
        candidates = free or texts
        return candidates[0] if candidates else None

    def get(self, model_id: str) -> Model:
        model = self._by_name.get(model_id)
        if model is None:
            raise ModelNotFound(f"The model '{model_id}' does not exist", param="model")
        return model
