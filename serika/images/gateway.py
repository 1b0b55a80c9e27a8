"""The image path: validate, route (Serika id -> provider + upstream id), draw, store, answer.

The synchronous endpoints answer URLs on this server's image CDN (or base64); jobs run the
same ``render`` and ``store`` steps in a worker. A provider failure is raised as the
provider's error (502/504 or the provider's own 4xx) and nothing is charged.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from typing import Any

from serika.catalog.catalog import Catalog, Model
from serika.clock import Clock
from serika.errors import InvalidRequest, UpstreamFailed
from serika.gateway import validate
from serika.images import request as image_request
from serika.images.files import StoredImage, new_image_id
from serika.images.request import ImageRequest
from serika.images.store import Job
from serika.limits.limiter import Admission, Limiter, premium_refusal
from serika.providers.images import EXTENSIONS, GeneratedImage, ImageCall
from serika.providers.registry import Providers
from serika.storage.blobs import BlobStore
from serika.usage.model import UsageTicket

log = logging.getLogger(__name__)
JOBS_HINT = "POST /jobs/images, then poll GET /jobs/{id}"


class ImageGateway:
    def __init__(
        self,
        catalog: Catalog,
        providers: Providers,
        blobs: BlobStore,
        clock: Clock,
        max_prompt_chars: int,
        limiter: Limiter,
    ) -> None:
        self._limiter = limiter
        self._catalog = catalog
        self._providers = providers
        self._blobs = blobs
        self._clock = clock
        self._max_prompt_chars = max_prompt_chars

    def default_model(self) -> str:
        images = [m for m in self._catalog.usable() if m.type == "image" and not m.jobs_only]
        free = [m for m in images if m.tier == "free"]
        if not (free or images):
            raise InvalidRequest("no image model is available on this server", param="model")
        return (free or images)[0].id

    def resolve(self, requested: str, *, job: bool) -> Model:
        model = self._catalog.for_call(requested)
        if model.type != "image":
            raise InvalidRequest(
                f"'{requested}' is a text model; use POST /chat/completions", param="model"
            )
        if model.jobs_only and not job:
            raise InvalidRequest(
                f"The model '{requested}' is slow and only available through the asynchronous "
                f"jobs API: {JOBS_HINT}.",
                param="model",
                code="jobs_only_model",
            )
        return model

    def prepare(
        self, body: dict[str, Any], ticket: UsageTicket, *, job: bool
    ) -> tuple[Model, ImageRequest]:
        """The model and the validated request, or a 400/404/503."""
        requested = validate.model_id(body)
        ticket.model = requested
        model = self.resolve(requested, job=job)
        if model.tier == "premium" and ticket.tier != "premium":
            raise premium_refusal(requested)
        return model, image_request.parse(body, self._max_prompt_chars)

    async def reserve(self, ticket: UsageTicket, model: Model, request: ImageRequest) -> Admission:
        """Admit the call: its request in the rate window and the images' price against the
        spending cap, in one round trip (refused: 429/402, nothing reserved)."""
        ticket.admission = await self._limiter.admit(
            ticket.caller(), cost=model.cost_micro_usd(0, 0, request.n), metered=True
        )
        return ticket.admission

    def settle_job(self, job: Job, cost_micro_usd: int) -> None:
        """A finished job's reservation becomes what it cost (a failed job's, nothing)."""
        self._limiter.settle_reserved_cost(
            job.user_id, job.created_at.timestamp(), job.reserved_micro_usd, cost_micro_usd
        )

    async def render(self, model: Model, request: ImageRequest) -> list[GeneratedImage]:
        """Ask the model's provider for the pictures."""
        provider = self._providers.image(model.provider)
        call = ImageCall(
            upstream_model=model.upstream_model,
            prompt=request.prompt,
            width=request.width,
            height=request.height,
            n=request.n,
            steps=request.steps,
            scale=request.scale,
            sampler=request.sampler,
            seed=request.seed,
            negative_prompt=request.negative_prompt,
            quality=model.quality,
        )
        images = await provider.generate_images(call)
        if not images:
            raise UpstreamFailed(f"The provider '{model.provider}' answered with no image.")
        return images[: request.n]

    async def store(self, images: list[GeneratedImage]) -> list[StoredImage]:
        """Put the images in the blob store; on failure remove the ones already stored."""
        stored: list[StoredImage] = []
        try:
            for image in images:
                item = StoredImage(
                    new_image_id(),
                    EXTENSIONS[image.content_type],
                    image.width,
                    image.height,
                    image.seed,
                )
                await self._blobs.put(item.key, image.data, image.content_type)
                stored.append(item)
        except BaseException:
            await asyncio.shield(self.discard(stored))
            raise
        return stored

    async def discard(self, stored: list[StoredImage]) -> None:
        for item in stored:
            with contextlib.suppress(Exception):
                await self._blobs.delete(item.key)

    async def generate(
        self, body: dict[str, Any], ticket: UsageTicket, origin: str
    ) -> dict[str, Any]:
        """``POST /images/generations``: the OpenAI ``{"created", "data"}`` answer."""
        model, request = self.prepare(body, ticket, job=False)
        form = image_request.response_format(body)
        await self.reserve(ticket, model, request)
        images = await self.render(model, request)
        data: list[dict[str, Any]]
        if form == "b64_json":
            data = [
                {"b64_json": base64.b64encode(i.data).decode("ascii"), "seed": i.seed}
                for i in images
            ]
        else:
            data = [{"url": origin + s.path, "seed": s.seed} for s in await self.store(images)]
        ticket.images = len(images)
        ticket.cost_micro_usd = model.cost_micro_usd(0, 0, len(images))
        return {"created": int(self._clock.now().timestamp()), "data": data}
