"""The login throttle: failed logins per client address, so that guessing passwords is slow."""

from __future__ import annotations

import time
from collections import defaultdict, deque

MAX_TRACKED_ADDRESSES = 10_000


class LoginThrottle:
    """Failed logins per client address; too many in a window and that address must wait."""

    def __init__(self, limit: int = 5, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)

    def retry_after(self, address: str) -> float:
        """Seconds this address must wait, 0 if it may try now."""
        failures = self._failures.get(address)
        if not failures:
            return 0.0
        now = time.monotonic()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return 0.0
        return failures[0] + self.window - now if len(failures) >= self.limit else 0.0

    def failed(self, address: str) -> None:
        if len(self._failures) > MAX_TRACKED_ADDRESSES:
            for stale in list(self._failures):
                self.retry_after(stale)  # forgets addresses whose failures have aged out
        self._failures[address].append(time.monotonic())

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)
