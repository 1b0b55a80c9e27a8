"""TensorArt's model service (TAMS): a job API, so these models are jobs-only in Serika.

``POST {base}/v1/jobs`` with an ``INPUT_INITIALIZE`` stage (seed, count) and a ``DIFFUSION``
stage (size, prompts, ``sdModel``, sampler, steps, ``cfgScale``) creates a TensorArt job;
``GET {base}/v1/jobs/{id}`` is polled (every 0.5 s at first, backing off to 5 s) until its
status is ``SUCCESS`` (then each image is fetched from its URL) or ``FAILED``/``ERROR``.
``Authorization: Bearer <key>``.

A TensorArt model is named by a numeric ``sdModel`` id, which the shipped catalog does not
know: set ``upstream_id`` for each TensorArt model you enable in a ``[[models]]`` entry of
the settings file. A model without one fails with ``provider_not_configured``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from serika.errors import ProviderNotConfigured, UpstreamFailed, UpstreamTimeout
from serika.providers.http import HttpUpstream
from serika.providers.images import GeneratedImage, ImageCall, read_image

SAMPLERS = {
    "k_euler": "Euler",
    "k_euler_ancestral": "Euler a",
    "k_dpmpp_2m": "DPM++ 2M Karras",
    "k_dpmpp_2m_sde": "DPM++ 2M SDE Karras",
    "k_dpmpp_sde": "DPM++ SDE Karras",
    "k_dpmpp_2s_ancestral": "DPM++ 2S a Karras",
    "k_dpm_2": "DPM2",
    "k_dpm_2_ancestral": "DPM2 a",
    "k_heun": "Heun",
    "k_lms": "LMS",
    "ddim": "DDIM",
}
DONE = "SUCCESS"
FAILED = {"FAILED", "ERROR", "CANCELED", "CANCELLED"}


def request_body(call: ImageCall) -> dict[str, Any]:
    diffusion: dict[str, Any] = {
        "width": call.width,
        "height": call.height,
        "prompts": [{"text": call.prompt}],
        "sdModel": call.upstream_model,
        "sampler": SAMPLERS.get(call.sampler, "Euler a"),
        "steps": call.steps,
        "cfgScale": call.scale,
        "clipSkip": 2,
    }
    if call.negative_prompt:
        diffusion["negativePrompts"] = [{"text": call.negative_prompt}]
    return {
        "requestId": uuid.uuid4().hex,
        "stages": [
            {"type": "INPUT_INITIALIZE", "inputInitialize": {"seed": call.seed, "count": call.n}},
            {"type": "DIFFUSION", "diffusion": diffusion},
        ],
    }


class TensorArtProvider:
    def __init__(
        self,
        http: HttpUpstream,
        base_url: str,
        api_key: str,
        *,
        first_poll_seconds: float = 0.5,
        max_poll_seconds: float = 5.0,
        max_wait_seconds: float = 900.0,
    ) -> None:
        self.name = http.name
        self._http = http
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._first_poll = first_poll_seconds
        self._max_poll = max_poll_seconds
        self._max_wait = max_wait_seconds

    async def generate_images(self, call: ImageCall) -> list[GeneratedImage]:
        if not call.upstream_model.isdigit():
            raise ProviderNotConfigured(
                "This TensorArt model has no TensorArt model id configured (set upstream_id "
                "in the settings file's [[models]] entry)."
            )
        created = await self._http.post_json(
            f"{self._base}/v1/jobs", request_body(call), self._headers
        )
        job = _job(created, self.name)
        deadline = time.monotonic() + self._max_wait
        pause = self._first_poll
        while str(job.get("status", "")).upper() != DONE:
            status = str(job.get("status", "")).upper()
            if status in FAILED:
                reason = (job.get("failedInfo") or {}).get("reason") or status.lower()
                raise UpstreamFailed(
                    f"The provider '{self.name}' failed the job: {self._http.scrub(str(reason))}"
                )
            if time.monotonic() > deadline:
                raise UpstreamTimeout(f"The provider '{self.name}' did not finish in time.")
            await asyncio.sleep(pause)
            pause = min(self._max_poll, pause * 1.5)
            job = _job(
                await self._http.get_json(f"{self._base}/v1/jobs/{job['id']}", self._headers),
                self.name,
            )
        found = (job.get("successInfo") or {}).get("images") or []
        images = []
        for n, item in enumerate(found):
            if not isinstance(item, dict) or not isinstance(item.get("url"), str):
                continue
            data, _ = await self._http.request_bytes("GET", item["url"])
            seed = str(item.get("seed", ""))
            images.append(
                read_image(data, self.name, int(seed) if seed.isdigit() else call.seed + n)
            )
        if not images:
            raise UpstreamFailed(f"The provider '{self.name}' finished the job with no image.")
        return images

    async def close(self) -> None:
        return None


def _job(answer: dict[str, Any], provider: str) -> dict[str, Any]:
    job = answer.get("job")
    if not isinstance(job, dict) or not isinstance(job.get("id"), str):
        raise UpstreamFailed(f"The provider '{provider}' answered without a job.")
    return job
