"""Login rate limiting: failures counted per (client IP, username) and per IP in a sliding window.

In memory, because the panel runs as one process (waitress threads); a restart forgets the counters, which only
gives an attacker a few more guesses per restart.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class LoginLimiter:
    def __init__(self, per_user: int = 5, per_ip: int = 20, window_s: float = 900.0) -> None:
        self.per_user = per_user
        self.per_ip = per_ip
        self.window_s = window_s
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        q = self._failures[key]
        while q and now - q[0] > self.window_s:
            q.popleft()
        return q

    def blocked(self, ip: str, username: str) -> bool:
        now = time.monotonic()
        with self._lock:
            return (
                len(self._recent((ip, username.lower()), now)) >= self.per_user
                or len(self._recent((ip, ""), now)) >= self.per_ip
            )

    def failed(self, ip: str, username: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._recent((ip, username.lower()), now).append(now)
            self._recent((ip, ""), now).append(now)

    def succeeded(self, ip: str, username: str) -> None:
        with self._lock:
            self._failures.pop((ip, username.lower()), None)
