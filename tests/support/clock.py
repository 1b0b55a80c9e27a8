"""A clock tests set by hand (``serika.clock.Clock``)."""

from __future__ import annotations

from datetime import datetime


class SettableClock:
    """``moment`` is now; tests move it. Monotonic and epoch seconds follow it."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    def monotonic(self) -> float:
        return self.moment.timestamp()

    def time(self) -> float:
        return self.moment.timestamp()
