"""Building the configured providers from settings, and finding the one behind a model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from serika.config import Settings, SettingsError
from serika.errors import ProviderNotConfigured
from serika.providers.azure import AzureProvider
from serika.providers.base import Provider
from serika.providers.demo import DemoProvider
from serika.providers.demo_image import DemoImageProvider
from serika.providers.http import HttpUpstream
from serika.providers.http_client import HttpClient, Timeouts
from serika.providers.images import ImageProvider
from serika.providers.novelai import NovelAIProvider
from serika.providers.openai_compatible import OpenAICompatibleProvider
from serika.providers.openai_images import OpenAIImagesProvider
from serika.providers.tensorart import TensorArtProvider


class Providers:
    """The providers this server can call, by name, sharing one HTTP connection pool."""

    def __init__(
        self,
        providers: Mapping[str, Provider],
        client: HttpClient | None,
        images: Mapping[str, ImageProvider] | None = None,
    ):
        self._providers = dict(providers)
        self._client = client
        self._images = dict(images or {})

    def get(self, name: str) -> Provider:
        provider = self._providers.get(name)
        if provider is None:
            raise ProviderNotConfigured(
                f"The provider '{name}' behind this model is not configured on this server."
            )
        return provider

    def image(self, name: str) -> ImageProvider:
        provider = self._images.get(name)
        if provider is None:
            raise ProviderNotConfigured(
                f"The image provider '{name}' behind this model is not configured on this server."
            )
        return provider

    def names(self) -> set[str]:
        return set(self._providers) | set(self._images)

    async def close(self) -> None:
        for provider in self._providers.values():
            await provider.close()
        for image_provider in self._images.values():
            await image_provider.close()
        if self._client is not None:
            await self._client.close()


def build_providers(settings: Settings, demo: bool) -> Providers:
    timeouts = Timeouts(
        connect=settings.upstream_connect_timeout,
        read=settings.upstream_read_timeout,
        total=settings.upstream_total_timeout,
    )
    client = HttpClient(settings.upstream_max_connections, timeouts)
    found: dict[str, Provider] = {}
    images: dict[str, ImageProvider] = {}

    def http(name: str, *secrets: str) -> HttpUpstream:
        return HttpUpstream(name, client, secrets)

    if settings.openrouter_api_key:
        found["openrouter"] = OpenAICompatibleProvider(
            http("openrouter", settings.openrouter_api_key),
            settings.openrouter_base_url,
            settings.openrouter_api_key,
        )
    if settings.openai_api_key:
        found["openai"] = OpenAICompatibleProvider(
            http("openai", settings.openai_api_key),
            settings.openai_base_url,
            settings.openai_api_key,
        )
        images["openai"] = OpenAIImagesProvider(
            http("openai", settings.openai_api_key),
            settings.openai_base_url,
            settings.openai_api_key,
        )
    if settings.novelai_api_key:
        images["novelai"] = NovelAIProvider(
            http("novelai", settings.novelai_api_key),
            settings.novelai_base_url,
            settings.novelai_api_key,
        )
    if settings.tensorart_api_key:
        images["tensorart"] = TensorArtProvider(
            http("tensorart", settings.tensorart_api_key),
            settings.tensorart_base_url,
            settings.tensorart_api_key,
        )
    if settings.azure_api_key and settings.azure_endpoint:
        found["azure"] = AzureProvider(
            http("azure", settings.azure_api_key),
            settings.azure_endpoint,
            settings.azure_api_key,
            settings.azure_api_version,
        )
    for name, spec in dict(settings.extra.get("providers", {})).items():
        found[str(name)] = _named(str(name), spec, http)
        if dict(spec).get("kind", "openai") == "openai":
            images[str(name)] = _named_images(str(name), spec, http)
    if demo:
        found["demo"] = DemoProvider(settings.demo_word_delay_seconds)
        images["demo"] = DemoImageProvider(settings.demo_image_delay_seconds)
    return Providers(found, client, images)


def _named_images(name: str, spec: Mapping[str, Any], http: Any) -> ImageProvider:
    """A named OpenAI-compatible provider also answers ``POST {base}/images/generations``."""
    api_key = str(spec.get("api_key", ""))
    headers = {str(k): str(v) for k, v in dict(spec.get("headers", {})).items()}
    return OpenAIImagesProvider(http(name, api_key), spec["base_url"], api_key, headers)


def _named(name: str, spec: Any, http: Any) -> Provider:
    if not isinstance(spec, Mapping) or not isinstance(spec.get("base_url"), str):
        raise SettingsError(f"[providers.{name}] needs a base_url")
    kind = spec.get("kind", "openai")
    api_key = str(spec.get("api_key", ""))
    if kind == "openai":
        headers = {str(k): str(v) for k, v in dict(spec.get("headers", {})).items()}
        return OpenAICompatibleProvider(http(name, api_key), spec["base_url"], api_key, headers)
    if kind == "azure":
        return AzureProvider(
            http(name, api_key),
            spec["base_url"],
            api_key,
            str(spec.get("api_version", "2024-10-21")),
        )
    raise SettingsError(f"[providers.{name}] has an unknown kind {kind!r} (openai, azure)")
