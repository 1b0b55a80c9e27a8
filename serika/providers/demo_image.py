"""The built-in offline image provider: abstract PNG art drawn from the prompt and the seed.

Not a diffusion model. The prompt and seed pick a palette and a composition of translucent
shapes over a gradient, so the same prompt and seed always give the same picture (with the
same Pillow), and another prompt or seed gives another one. No network, no weights.
"""

from __future__ import annotations

import asyncio
import colorsys
import hashlib
import io
import random
import re

from PIL import Image, ImageDraw

from serika.providers.images import GeneratedImage, ImageCall

Color = tuple[int, int, int]
# A colour named in the prompt sets the picture's main hue.
_HUES = {
    "red": 0.0,
    "orange": 0.08,
    "gold": 0.12,
    "yellow": 0.15,
    "green": 0.33,
    "forest": 0.3,
    "teal": 0.47,
    "cyan": 0.5,
    "sky": 0.55,
    "ocean": 0.58,
    "blue": 0.62,
    "night": 0.66,
    "purple": 0.78,
    "violet": 0.8,
    "pink": 0.9,
    "magenta": 0.87,
    "rose": 0.95,
    "fire": 0.03,
}
_WORD = re.compile(r"[a-z]+")


def _rgb(hue: float, saturation: float, value: float) -> Color:
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return round(r * 255), round(g * 255), round(b * 255)


def draw(prompt: str, seed: int, width: int, height: int) -> bytes:
    """A PNG of ``width`` x ``height`` for ``prompt`` and ``seed``."""
    digest = hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:16], "big"))  # noqa: S311 (art, not secrets)
    named = [_HUES[w] for w in _WORD.findall(prompt.lower()) if w in _HUES]
    base_hue = named[0] + rng.uniform(-0.03, 0.03) if named else rng.random()
    palette = [
        _rgb(
            base_hue + rng.choice((0.0, 0.0, 0.04, -0.04, 0.5)),
            rng.uniform(0.35, 0.9),
            rng.uniform(0.45, 1.0),
        )
        for _ in range(6)
    ]
    top = Image.new("RGB", (width, height), _rgb(base_hue, 0.6, 0.2))
    bottom = Image.new("RGB", (width, height), _rgb(base_hue + 0.1, 0.5, 0.9))
    mask = Image.linear_gradient("L").rotate(rng.choice((0, 90, 180, 270))).resize((width, height))
    image = Image.composite(top, bottom, mask)
    pen = ImageDraw.Draw(image, "RGBA")
    scale = min(width, height)
    for _ in range(rng.randint(14, 28)):
        color = (*rng.choice(palette), rng.randint(60, 170))
        x, y = rng.uniform(-0.1, 1.1) * width, rng.uniform(-0.1, 1.1) * height
        size = rng.uniform(0.05, 0.45) * scale
        shape = rng.random()
        if shape < 0.45:
            pen.ellipse((x - size, y - size, x + size, y + size), fill=color)
        elif shape < 0.7:
            pen.rectangle((x - size, y - size / 2, x + size, y + size / 2), fill=color)
        elif shape < 0.9:
            points = [
                (x + rng.uniform(-size, size), y + rng.uniform(-size, size)) for _ in range(3)
            ]
            pen.polygon(points, fill=color)
        else:
            end = (x + rng.uniform(-2, 2) * size, y + rng.uniform(-2, 2) * size)
            pen.line(((x, y), end), fill=color, width=max(2, int(size / 8)))
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


class DemoImageProvider:
    name = "demo"

    def __init__(self, delay: float = 0.0) -> None:
        self._delay = delay

    async def generate_images(self, call: ImageCall) -> list[GeneratedImage]:
        if self._delay:
            await asyncio.sleep(self._delay)
        images = []
        for n in range(call.n):
            seed = (call.seed + n) % 2**32
            data = await asyncio.to_thread(draw, call.prompt, seed, call.width, call.height)
            images.append(GeneratedImage(data, "image/png", call.width, call.height, seed))
        return images

    async def close(self) -> None:
        return None
