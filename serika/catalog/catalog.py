"""Loading the catalog and deciding which models are usable with the configured providers."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import orjson

from serika.config import Settings, SettingsError
from serika.errors import ModelNotFound

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
    extra: Mapping[str, Any] = field(default_factory=dict)

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


def _model(entry: Mapping[str, Any], created: int) -> Model:
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
    extra = {k: v for k, v in entry.items() if k not in _KNOWN and k != "disabled"}
    return Model(**known, extra=extra)


def default_entries() -> tuple[int, list[dict[str, Any]]]:
    text = resources.files("serika.catalog").joinpath("models.toml").read_text("utf-8")
    data = tomllib.loads(text)
    return int(data["created"]), list(data["models"])


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
        created, entries = default_entries()
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
        return cls((_model(e, created) for e in merged.values()), usable)

    def usable(self) -> list[Model]:
        return list(self._usable)

    def get(self, model_id: str) -> Model:
        model = self._by_name.get(model_id)
        if model is None:
            raise ModelNotFound(f"The model '{model_id}' does not exist", param="model")
        return model
