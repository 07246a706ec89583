"""Rate limiting per API key: a token bucket per key, 429 with Retry-After when it is empty.

Buckets live in the process. `nbo serve --workers N` gives each worker 1/N of the rate and of the
burst, so the service as a whole admits about the configured rate per key (connections are spread
over the workers by the kernel, so a single keep-alive client may see a little less).
Requests without a key (health, metrics, docs) are not limited; unknown keys share one bucket.
Failed workbench sign-ins are limited per client address (`SignInLimiter`).
"""

from __future__ import annotations

import threading
import time
from collections import deque

from nbo.settings import ServiceSettings

UNKNOWN_KEY = "unknown"


class TokenBucket:
    """`burst` tokens, refilled at `rate_per_s`; each request takes one."""

    def __init__(self, rate_per_s: float, burst: float):
        self.rate_per_s, self.burst = rate_per_s, burst
        self.tokens, self.updated = burst, time.monotonic()

    def take(self, now: float) -> float:
        """Take a token: 0 if there was one, else the seconds until there is."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate_per_s)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate_per_s


class RateLimiter:
    """One token bucket per key (by the key's role lookup, so unknown keys share one bucket)."""

    def __init__(self, rate_per_s: float, burst: float):
        self.rate_per_s, self.burst = rate_per_s, burst
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def wait_s(self, bucket_id: str) -> float:
        """Take a token from the bucket: 0 if admitted, else the seconds to wait."""
        with self._lock:
            bucket = self._buckets.setdefault(bucket_id, TokenBucket(self.rate_per_s, self.burst))
            return bucket.take(time.monotonic())


def limiter_for(service: ServiceSettings) -> RateLimiter | None:
    """This process's share of the per-key limit; None when limiting is off (rate 0)."""
    if service.rate_limit_per_s <= 0:
        return None
    return RateLimiter(service.rate_limit_per_s / service.workers,
                       max(1.0, service.rate_limit_burst / service.workers))


SIGN_IN_FAILURES = 5  # failed workbench sign-ins per client address ...
SIGN_IN_WINDOW_S = 60.0  # ... within this sliding window, then 429 until the oldest leaves it
TRACKED_ADDRESSES = 10_000


class SignInLimiter:
    """Failed workbench sign-ins per client address, in this worker process (a key guesser gets
    SIGN_IN_FAILURES tries a minute per address and worker; other addresses are unaffected)."""

    def __init__(self, failures: int = SIGN_IN_FAILURES, window_s: float = SIGN_IN_WINDOW_S):
        self.failures, self.window_s = failures, window_s
        self._recent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_s(self, address: str) -> float:
        """0 if the address may try to sign in, else the seconds until it may."""
        now = time.monotonic()
        with self._lock:
            recent = self._drop_old(self._recent.get(address, deque()), now)
            return 0.0 if len(recent) < self.failures else recent[0] + self.window_s - now

    def fail(self, address: str) -> None:
        """Count a failed sign-in from the address."""
        now = time.monotonic()
        with self._lock:
            if address not in self._recent and len(self._recent) >= TRACKED_ADDRESSES:
                self._forget_idle(now)
            self._drop_old(self._recent.setdefault(address, deque(maxlen=self.failures)), now).append(now)

    def _drop_old(self, recent: deque[float], now: float) -> deque[float]:
        while recent and recent[0] <= now - self.window_s:
            recent.popleft()
        return recent

    def _forget_idle(self, now: float) -> None:
        """Drop addresses without a failure in the window (else the longest-tracked one)."""
        idle = [a for a, r in self._recent.items() if not r or r[-1] <= now - self.window_s]
        for address in idle or [next(iter(self._recent))]:
            del self._recent[address]
