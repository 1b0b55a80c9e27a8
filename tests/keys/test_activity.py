"""Batched key activity: counters add up, last_used_at never goes back."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from serika.keys.activity import ActivityRecorder
from serika.keys.store import KeyActivity
from tests.support.clock import SettableClock


class RecordingStore:
    def __init__(self, fail_times: int = 0) -> None:
        self.batches: list[list[KeyActivity]] = []
        self.fail_times = fail_times

    async def apply_activity(self, batch: object) -> None:
        items = list(batch)  # type: ignore[call-overload]
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("database went away")
        self.batches.append(items)


T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_records_are_merged_per_key_into_one_flush() -> None:
    clock = SettableClock(T0)
    store = RecordingStore()
    recorder = ActivityRecorder(store, clock)  # type: ignore[arg-type]
    recorder.record("k1")
    clock.moment = T0 + timedelta(seconds=5)
    recorder.record("k1", tokens=7)
    recorder.record("k2", requests=0)
    assert asyncio.run(recorder.flush()) == 2
    by_key = {a.key_id: a for a in store.batches[0]}
    assert by_key["k1"] == KeyActivity("k1", T0 + timedelta(seconds=5), 2, 7, 0)
    assert by_key["k2"].requests == 0
    assert asyncio.run(recorder.flush()) == 0


def test_a_failed_flush_keeps_everything_for_the_next_one() -> None:
    clock = SettableClock(T0)
    store = RecordingStore(fail_times=1)
    recorder = ActivityRecorder(store, clock)  # type: ignore[arg-type]
    recorder.record("k1")

    async def scenario() -> None:
        with contextlib.suppress(ConnectionError):
            await recorder.flush()
        recorder.record("k1")
        await recorder.flush()

    asyncio.run(scenario())
    assert store.batches == [[KeyActivity("k1", T0, 2, 0, 0)]]
