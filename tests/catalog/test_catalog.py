"""The catalog: the published ids ship, only usable models are listed, overrides apply."""

from __future__ import annotations

from pathlib import Path

import pytest

from serika.catalog.catalog import Catalog
from serika.config import Settings
from serika.errors import ModelNotFound

SPEC = Path(__file__).resolve().parents[3] / "shared" / "spec" / "models.md"


def _published_ids() -> set[str]:
    ids: set[str] = set()
    for line in SPEC.read_text("utf-8").splitlines():
        if line.startswith("| ") and not line.startswith(("| id", "| ---")):
            first = line.strip("|").split("|")[0].strip()
            ids.update(part.strip() for part in first.split(","))
    return ids


def test_every_published_model_is_in_the_shipped_catalog() -> None:
    everything = Settings(
        openrouter_api_key="k",
        openai_api_key="k",
        azure_api_key="k",
        azure_endpoint="https://x",
        novelai_api_key="k",
        tensorart_api_key="k",
    )
    usable = {m.id for m in Catalog.from_settings(everything).usable()}
    published = _published_ids()
    assert len(published) > 60
    assert published <= usable


def test_demo_models_only_when_nothing_is_configured() -> None:
    offline = {m.id for m in Catalog.from_settings(Settings()).usable()}
    assert offline == {"demo/serika-chat", "demo/serika-image"}
    online = {m.id for m in Catalog.from_settings(Settings(openrouter_api_key="k")).usable()}
    assert "demo/serika-chat" not in online and "openai/gpt-4o-mini" in online
    assert "gpt-4.1" not in online  # Azure is not configured
    forced = Catalog.from_settings(Settings(openrouter_api_key="k", demo_models="on"))
    assert forced.get("demo/serika-chat").provider == "demo"


def test_aliases_and_unknown_models() -> None:
    catalog = Catalog.from_settings(Settings(openrouter_api_key="k"))
    assert catalog.get("euryale-70b").id == "sao10k/l3.3-euryale-70b"
    with pytest.raises(ModelNotFound):
        catalog.get("no/such-model")


def test_operator_overrides_add_change_and_remove() -> None:
    settings = Settings(
        openrouter_api_key="k",
        extra={
            "models": [
                {"id": "openai/gpt-4o", "tier": "premium"},
                {"id": "openai/gpt-4o-mini", "disabled": True},
                {
                    "id": "acme/house-model",
                    "name": "House",
                    "type": "text",
                    "tier": "free",
                    "provider": "openrouter",
                    "upstream_id": "acme/h-1",
                },
            ]
        },
    )
    catalog = Catalog.from_settings(settings)
    assert catalog.get("openai/gpt-4o").tier == "premium"
    assert catalog.get("acme/house-model").upstream_model == "acme/h-1"
    with pytest.raises(ModelNotFound):
        catalog.get("openai/gpt-4o-mini")
