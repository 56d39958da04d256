"""The double's clock: real time plus an offset that only moves forward, so that sessions can be aged past their
`expires_at` without waiting a day (`POST /local/clock`)."""

from __future__ import annotations

import threading
import time


class OffsetClock:
    """Real time plus an offset that only moves forward: the double's clock, so sessions can be aged."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self()
