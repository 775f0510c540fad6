"""A controllable clock for TTLs, rate limits and health checks in tests."""

from dataclasses import dataclass


@dataclass
class FakeClock:
    """A clock that stands still until a test moves it (`clock.now += seconds` or `advance`)."""

    now: float = 1000.0

    def __call__(self) -> float:
        """Return the current fake time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds
