"""The Redis server that `make test` starts (``SERIKA_TEST_REDIS_URL``)."""

from __future__ import annotations

import os

REDIS_ENV = "SERIKA_TEST_REDIS_URL"


def redis_url() -> str:
    url = os.environ.get(REDIS_ENV)
    if not url:
        raise RuntimeError(f"{REDIS_ENV} is not set: run the suite with `make test`")
    return url
