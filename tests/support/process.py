"""What the test helpers that run a child process share: its log file and whether it runs."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import IO


class LoggedProcess:
    """A child process whose stdout and stderr go to ``log_path``."""

    log_path: Path
    _process: subprocess.Popen[bytes] | None
    _log: IO[bytes] | None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_text(self) -> str:
        """Everything the process wrote so far."""
        try:
            return self.log_path.read_text("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
