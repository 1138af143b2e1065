"""The fake's rate limits: HubSpot's rolling per-10-second policy and the per-second search policy.

Windows are configurable so tests can run a scaled-down window; the bench uses the real values.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

from connectors.hubspot.fake.errors import FakeApiError


@dataclass
class Window:
    """At most `limit` admitted requests in any `window_s` (a sliding log)."""

    policy: str
    limit: int
    window_s: float
    admitted: deque[float] = field(default_factory=deque)

    def _trim(self, now: float) -> None:
        while self.admitted and self.admitted[0] <= now - self.window_s:
            self.admitted.popleft()

    def try_admit(self, now: float) -> bool:
        self._trim(now)
        if len(self.admitted) >= self.limit:
            return False
        self.admitted.append(now)
        return True

    def remaining(self, now: float) -> int:
        self._trim(now)
        return max(self.limit - len(self.admitted), 0)


class RateLimits:
    def __init__(self, limit: int, window_s: float, search_limit: int, search_window_s: float) -> None:
        self._lock = threading.Lock()
        self.general = Window("TEN_SECONDLY_ROLLING", limit, window_s)
        # Search has its own policy and its answers carry no X-HubSpot-RateLimit-* headers.
        self.search = Window("SECONDLY", search_limit, search_window_s)
        self.rejected = 0

    def reset(self) -> None:
        with self._lock:
            self.general.admitted.clear()
            self.search.admitted.clear()
            self.rejected = 0

    def admit(self, is_search: bool) -> dict[str, str]:
        """Headers for an admitted request; raises the 429 HubSpot gives when the policy is spent."""
        window = self.search if is_search else self.general
        with self._lock:
            now = time.monotonic()
            if window.try_admit(now):
                return {} if is_search else self._headers(now)
            self.rejected += 1
            headers = {} if is_search else self._headers(now)
        raise FakeApiError(
            429,
            "RATE_LIMITS",
            f"You have reached your {window.policy.lower()} limit.",
            headers=headers,
            extra={"errorType": "RATE_LIMIT", "policyName": window.policy, "requestId": "fake"},
        )

    def _headers(self, now: float) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.general.window_s * 1000)),
            "X-HubSpot-RateLimit-Max": str(self.general.limit),
            "X-HubSpot-RateLimit-Remaining": str(self.general.remaining(now)),
        }
