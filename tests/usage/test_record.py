"""Unbilled calls counted together: one usage record per identical group and second."""

from __future__ import annotations

from serika.usage.record import UnbilledCalls, UsageRow

T = 1_795_000_000.25  # seconds since the epoch, a quarter into a second


def test_identical_unbilled_calls_of_a_second_make_one_record_that_counts_them_all() -> None:
    calls = UnbilledCalls()
    for n in range(50):
        calls.add("usr_1", "key_1", "/models", None, 200, False, 2, T + n * 0.01)  # 0.25-0.74
    calls.add("usr_1", "key_1", "/models", None, 200, False, 9, T + 1)  # the next second
    calls.add("usr_1", "key_1", "/models", None, 429, False, 1, T)  # refused
    calls.add("usr_1", "key_2", "/models", None, 200, False, 1, T)  # another key
    calls.add("usr_2", None, "/user", None, 200, False, 1, T)  # another account (session)
    assert len(calls) == 5

    rows = sorted(calls.take(), key=lambda r: (r.user_id, r.key_id or "", r.created_at, r.status))
    assert rows == [
        UsageRow("usr_1", "key_1", "/models", None, 200, 0, 0, 0, 0, 100, False, 50, T),
        UsageRow("usr_1", "key_1", "/models", None, 429, 0, 0, 0, 0, 1, False, 1, T),
        UsageRow("usr_1", "key_1", "/models", None, 200, 0, 0, 0, 0, 9, False, 1, T + 1),
        UsageRow("usr_1", "key_2", "/models", None, 200, 0, 0, 0, 0, 1, False, 1, T),
        UsageRow("usr_2", None, "/user", None, 200, 0, 0, 0, 0, 1, False, 1, T),
    ]
    assert len(calls) == 0 and calls.take() == []  # counting starts afresh
