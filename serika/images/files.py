"""Generated images as stored files: unguessable ids, blob keys, CDN paths."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from serika.ids import random_base62
from serika.providers.images import EXTENSIONS

CDN_PREFIX = "/api/cdn/images/"
ID_LENGTH = 32  # base62: about 190 random bits
_IMAGE_ID = re.compile(rf"img_[0-9A-Za-z]{{{ID_LENGTH}}}")
_FILE_NAME = re.compile(rf"(img_[0-9A-Za-z]{{{ID_LENGTH}}})\.([a-z]{{3,4}})")
CONTENT_TYPES = {ext: content_type for content_type, ext in EXTENSIONS.items()}


def new_image_id() -> str:
    return "img_" + random_base62(ID_LENGTH)


def blob_key(file_name: str) -> str:
    return "images/" + file_name


def parse_file_name(file_name: str) -> tuple[str, str] | None:
    """``(image_id, extension)`` for a well-formed CDN file name, else None."""
    match = _FILE_NAME.fullmatch(file_name)
    if match is None or match.group(2) not in CONTENT_TYPES:
        return None
    return match.group(1), match.group(2)


@dataclass(frozen=True, slots=True)
class StoredImage:
    image_id: str
    extension: str
    width: int
    height: int
    seed: int | None

    @property
    def file_name(self) -> str:
        return f"{self.image_id}.{self.extension}"

    @property
    def key(self) -> str:
        return blob_key(self.file_name)

    @property
    def path(self) -> str:
        """The CDN path; answers put the server's public origin in front of it."""
        return CDN_PREFIX + self.file_name

    def stored(self) -> dict[str, Any]:
        return {
            "file": self.file_name,
            "width": self.width,
            "height": self.height,
            "seed": self.seed,
        }

    @classmethod
    def from_stored(cls, value: dict[str, Any]) -> StoredImage:
        parsed = parse_file_name(str(value["file"]))
        if parsed is None:
            raise ValueError(f"not a stored image: {value!r}")
        seed = value.get("seed")
        return cls(
            parsed[0],
            parsed[1],
            int(value["width"]),
            int(value["height"]),
            int(seed) if seed is not None else None,
        )

    def public(self, origin: str) -> dict[str, Any]:
        return {
            "url": origin + self.path,
            "width": self.width,
            "height": self.height,
            "seed": self.seed,
        }
