"""The meter: a call's bookkeeping runs once its answer has been written, before anything
after it, and what the call used is worked out then."""

from __future__ import annotations

import asyncio

from serika.config import Settings
from serika.services import build_services


def test_a_ticket_closed_soon_is_recorded_after_the_answer_and_before_what_comes_next(
    settings: Settings,
) -> None:
    async def main() -> None:
        services = build_services(settings)
        await services.start()
        try:
            user = await services.accounts.register("m@example.org", "meter", "a long password")
            meter = services.meter
            ticket = meter.open(user.id, None, "/chat/completions")
            measured: list[str] = []

            def measure() -> None:
                measured.append("measured")
                ticket.set_tokens(7, 5)

            ticket.measure = measure
            before = meter.pending()
            meter.close_soon(ticket)
            # The code in hand (which writes the answer) goes on first ...
            assert not ticket.closed and measured == [] and meter.pending() == before
            order: list[str] = []
            asyncio.get_running_loop().call_soon(order.append, "next")
            await asyncio.sleep(0)
            # ... and the ticket is closed before whatever was scheduled after it.
            assert ticket.closed and measured == ["measured"] and order == ["next"]
            assert meter.pending() == before + 1
            meter.close(ticket)  # once only
            assert measured == ["measured"] and meter.pending() == before + 1
            report = await services.reports.report(user.id, None, None, None)
            assert report["summary"]["prompt_tokens"] == 7
            assert report["summary"]["completion_tokens"] == 5
        finally:
            await services.close()

    asyncio.run(main())
