"""Counting user-space instructions under valgrind's cachegrind (for the bench scripts).

Instruction counts do not move with the neighbours' load the way times do: the difference of
two runs that do N1 and N2 units of work, over N2 - N1, is the cost of one unit.
"""

from __future__ import annotations

import re
import shutil

VALGRIND = ("valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null")


def require() -> None:
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")


def total(report: str) -> int | None:
    """The instructions executed ("I refs") in cachegrind's summary; None without one."""
    found = re.search(r"I\s+refs:\s+([\d,]+)", report)
    return int(found.group(1).replace(",", "")) if found else None
