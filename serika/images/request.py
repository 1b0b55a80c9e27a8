"""Reading an images request body into an ``ImageRequest``, with clear 400s.

Defaults are the ones Serika publishes: 1024 x 1024, 23 steps, guidance scale 10, sampler
``k_euler_ancestral``, a random seed. ``width``/``height`` win over ``size`` ("WxH").
"""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from serika.errors import InvalidRequest, MissingParameter

DEFAULT_SIZE = 1024
DEFAULT_STEPS = 23
DEFAULT_SCALE = 10.0
DEFAULT_SAMPLER = "k_euler_ancestral"
MIN_SIDE, MAX_SIDE, SIDE_STEP = 64, 2048, 64
MAX_N = 4
MAX_STEPS = 50
MAX_SCALE = 20.0
MAX_SEED = 2**32 - 1
SAMPLERS = frozenset(
    {
        "k_euler",
        "k_euler_ancestral",
        "k_dpmpp_2s_ancestral",
        "k_dpmpp_2m",
        "k_dpmpp_2m_sde",
        "k_dpmpp_sde",
        "k_dpm_2",
        "k_dpm_2_ancestral",
        "k_dpm_adaptive",
        "k_dpm_fast",
        "k_lms",
        "k_heun",
        "ddim",
        "ddim_v3",
        "plms",
    }
)
RESPONSE_FORMATS = ("url", "b64_json")
_SIZE = re.compile(r"(\d{1,5})\s*[xX]\s*(\d{1,5})")


@dataclass(frozen=True, slots=True)
class ImageRequest:
    prompt: str
    width: int = DEFAULT_SIZE
    height: int = DEFAULT_SIZE
    n: int = 1
    steps: int = DEFAULT_STEPS
    scale: float = DEFAULT_SCALE
    sampler: str = DEFAULT_SAMPLER
    seed: int = 0
    negative_prompt: str = ""

    def stored(self) -> dict[str, Any]:
        """The form jobs keep in the database."""
        return asdict(self)

    @classmethod
    def from_stored(cls, value: dict[str, Any]) -> ImageRequest:
        return cls(**{k: v for k, v in value.items() if k in cls.__dataclass_fields__})


def _int(body: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequest(f"{name} must be an integer from {low} to {high}", param=name)
    return value


def _side(body: dict[str, Any], name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if not MIN_SIDE <= value <= MAX_SIDE or value % SIDE_STEP:
        raise InvalidRequest(
            f"{name} must be a multiple of {SIDE_STEP} from {MIN_SIDE} to {MAX_SIDE} (got {value})",
            param=name,
        )
    return value


def _size(body: dict[str, Any]) -> tuple[int | None, int | None]:
    value = body.get("size")
    if value is None or value == "auto":
        return None, None
    match = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise InvalidRequest(
            "size must look like '1024x1024' (width x height in pixels) or 'auto'", param="size"
        )
    width, height = int(match.group(1)), int(match.group(2))
    return _side(body, "size", width), _side(body, "size", height)


def _text(body: dict[str, Any], name: str, limit: int, *, required: bool) -> str:
    value = body.get(name)
    if value is None or (required and isinstance(value, str) and not value.strip()):
        if required:
            raise MissingParameter(f"you must provide a {name}", param=name)
        return ""
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be a string", param=name)
    if len(value) > limit:
        raise InvalidRequest(
            f"{name} is too long: {len(value)} characters, at most {limit}", param=name
        )
    return value


def response_format(body: dict[str, Any]) -> str:
    value = body.get("response_format")
    if value is None:
        return "url"
    if value not in RESPONSE_FORMATS:
        raise InvalidRequest("response_format must be 'url' or 'b64_json'", param="response_format")
    return str(value)


def parse(body: dict[str, Any], max_prompt_chars: int) -> ImageRequest:
    """Validate every field we use; unknown OpenAI fields (quality, style, user) are ignored."""
    if body.get("stream") not in (None, False):
        raise InvalidRequest("streaming image generation is not supported", param="stream")
    prompt = _text(body, "prompt", max_prompt_chars, required=True)
    negative = _text(body, "negative_prompt", max_prompt_chars, required=False)
    size_width, size_height = _size(body)
    width = _side(body, "width", _int(body, "width", 0, 10**6)) or size_width or DEFAULT_SIZE
    height = _side(body, "height", _int(body, "height", 0, 10**6)) or size_height or DEFAULT_SIZE
    n = _int(body, "n", 1, MAX_N)
    steps = _int(body, "steps", 1, MAX_STEPS)
    seed = _int(body, "seed", 0, MAX_SEED)
    scale = body.get("scale")
    if scale is not None and (
        isinstance(scale, bool)
        or not isinstance(scale, (int, float))
        or not 0 <= scale <= MAX_SCALE
    ):
        raise InvalidRequest(f"scale must be a number from 0 to {MAX_SCALE:g}", param="scale")
    sampler = body.get("sampler")
    if sampler is not None and sampler not in SAMPLERS:
        raise InvalidRequest(
            f"sampler must be one of {', '.join(sorted(SAMPLERS))}", param="sampler"
        )
    return ImageRequest(
        prompt=prompt,
        width=width,
        height=height,
        n=n or 1,
        steps=steps or DEFAULT_STEPS,
        scale=float(scale) if scale is not None else DEFAULT_SCALE,
        sampler=str(sampler) if sampler is not None else DEFAULT_SAMPLER,
        seed=seed if seed is not None else secrets.randbelow(MAX_SEED + 1),
        negative_prompt=negative,
    )
