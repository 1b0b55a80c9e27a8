"""A usage record as stored."""

from __future__ import annotations

from typing import NamedTuple


class UsageRow(NamedTuple):
    """One usage record as stored: the fields in the table's column order (a tuple, so the
    store can hand a batch of them to the database driver as they are)."""

    user_id: str
    key_id: str | None
    endpoint: str
    model: str | None
    status: int
    prompt_tokens: int
    completion_tokens: int
    images: int
    cost_micro_usd: int
    latency_ms: int  # with several requests, their total
    estimated: bool
    requests: int  # how many calls it counts: identical unbilled calls of a second are one row
    created_at: float  # seconds since the epoch; the store writes it as a UTC timestamp


# user, key, endpoint, model, status, estimated, and the second (since the epoch)
_Group = tuple[str, str | None, str, str | None, int, bool, int]


class UnbilledCalls:
    """Identical unbilled calls (no tokens, images or cost) of one second, counted together
    until written: one usage record per group instead of one per call. Reports sum
    ``requests``, so they read the same; the writes a cheap read like GET /models costs fall
    from one row per call to about one per key and second."""

    def __init__(self) -> None:
        # group -> [calls, latency total, the first call's time]
        self._groups: dict[_Group, list[float]] = {}

    def __len__(self) -> int:
        return len(self._groups)

    def add(
        self,
        user_id: str,
        key_id: str | None,
        endpoint: str,
        model: str | None,
        status: int,
        estimated: bool,
        latency_ms: int,
        created_at: float,
    ) -> None:
        group = (user_id, key_id, endpoint, model, status, estimated, int(created_at))
        found = self._groups.get(group)
        if found is None:
            self._groups[group] = [1, latency_ms, created_at]
        else:
            found[0] += 1
            found[1] += latency_ms

    def take(self) -> list[UsageRow]:
        """The groups as usage records; counting starts afresh."""
        groups, self._groups = self._groups, {}
        return [
            UsageRow(
                user_id,
                key_id,
                endpoint,
                model,
                status,
                0,
                0,
                0,
                0,
                int(latency),
                estimated,
                int(calls),
                created_at,
            )
            for (user_id, key_id, endpoint, model, status, estimated, _), (
                calls,
                latency,
                created_at,
            ) in groups.items()
        ]
