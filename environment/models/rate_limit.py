"""Tokens per minute: a model's token bucket, so calls wait their turn instead of tripping
the provider's limit (a 429 costs a round trip and a backoff).

Before a call, its worst case — the prompt's estimated tokens plus `max_tokens` — is
reserved; after it, the reservation is settled to the tokens the reply reports. The
provider's own count wins when it says less is left (OpenAI `x-ratelimit-remaining-tokens`,
Anthropic `anthropic-ratelimit-tokens-remaining`). The clock is injected, so the arithmetic
is tested without time.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

Clock = Callable[[], float]
Pause = Callable[[float], Awaitable[None]]


def remaining_tokens(headers: Mapping[str, str]) -> float | None:
    """The tokens a reply's headers say are left this minute (None: they do not say)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    for name in ("x-ratelimit-remaining-tokens", "anthropic-ratelimit-tokens-remaining"):
        if name in lowered:
            try:
                return float(lowered[name])
            except ValueError:
                return None
    return None


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def _seconds_until(value: str, now_utc: datetime | None = None) -> float | None:
    """A reset time as seconds from now: OpenAI writes a duration ("1s", "6m0s", "20ms"),
    Anthropic a moment (RFC 3339); None if it is neither."""
    text = value.strip()
    parts = _DURATION_PART.findall(text)
    if parts and "".join(number + unit for number, unit in parts) == text:
        scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
        return sum(float(number) * scale[unit] for number, unit in parts)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, (moment - (now_utc or datetime.now(UTC))).total_seconds())


def requests_left(headers: Mapping[str, str]) -> tuple[int | None, float | None]:
    """The requests a reply's headers say are left, and the seconds until that count
    resets (None where they do not say)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    left: int | None = None
    reset: float | None = None
    for remaining_name, reset_name in (
        ("x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"),
        ("anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-requests-reset"),
    ):
        if remaining_name in lowered:
            try:
                left = int(float(lowered[remaining_name]))
            except ValueError:
                left = None
            if reset_name in lowered:
                reset = _seconds_until(lowered[reset_name])
            break
    return left, reset


class RequestPacer:
    """Call starts at most `rpm` a minute, spaced 60/rpm s apart (a steady rate, never a
    burst past the limit); and none before the provider's count resets once its headers
    say no request is left."""

    def __init__(self, rpm: int | None, clock: Clock = time.monotonic) -> None:
        self.interval = 60.0 / rpm if rpm else 0.0
        self.clock = clock
        self._next_start = 0.0
        self._lock = asyncio.Lock()

    def learn(self, left: int | None, reset_s: float | None) -> None:
        """What a reply's headers said: with nothing left, hold starts until the reset."""
        if left is not None and left <= 0 and reset_s is not None:
            self._next_start = max(self._next_start, self.clock() + reset_s)

    def wait_s(self) -> float:
        """How long the next call would wait for its start (it does not take the turn)."""
        return max(0.0, self._next_start - self.clock())

    async def wait_turn(self, pause: Pause) -> None:
        async with self._lock:
            now = self.clock()
            start = max(now, self._next_start)
            self._next_start = start + self.interval
        if start > now:
            await pause(start - now)


class TokenBucket:
    """`per_minute` tokens, refilled continuously. A reservation larger than the whole
    bucket waits for a full bucket and takes it all (it could never fit otherwise)."""

    def __init__(self, per_minute: float, clock: Clock = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = self.capacity / 60.0  # tokens per second
        self.clock = clock
        self.level = self.capacity
        self._updated = clock()
        self._turn = asyncio.Lock()  # first come, first served: no starving a big call
        self._refunded = asyncio.Event()  # a settled call gave tokens back: look again

    def _refill(self) -> None:
        now = self.clock()
        self.level = min(self.capacity, self.level + (now - self._updated) * self.rate)
        self._updated = now

    def wait_s(self, tokens: float) -> float:
        """Seconds until `tokens` (at most the capacity) are in the bucket."""
        self._refill()
        need = min(tokens, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate

    async def reserve(self, tokens: float, pause: Pause) -> float:
        """Waits until the bucket holds `tokens`, takes them, returns what was taken."""
        async with self._turn:
            while (wait := self.wait_s(tokens)) > 0:
                self._refunded.clear()
                napping = asyncio.ensure_future(pause(wait))
                refund = asyncio.ensure_future(self._refunded.wait())
                try:
                    await asyncio.wait({napping, refund}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    napping.cancel()
                    refund.cancel()
                if napping.done() and not napping.cancelled() and napping.exception():
                    raise napping.exception()  # type: ignore[misc]  # the run is stopping
            self.level -= tokens
            return tokens

    def settle(self, reserved: float, used: float) -> None:
        """The call used `used` of the `reserved` tokens: the rest goes back (or, when the
        estimate was short, the difference is taken)."""
        self._refill()
        self.level = min(self.capacity, self.level + reserved - used)
        if reserved > used:
            self._refunded.set()

    def learn(self, remaining: float) -> None:
        """The provider's count: when it says fewer tokens are left than this bucket thinks
        (other clients on the same key, another tokenizer), believe it."""
        self._refill()
        self.level = min(self.level, remaining)


class AdaptiveSlots:
    """At most `limit` calls at once; halved on a rate-limit reply, grown back by one per
    success (additive increase, multiplicative decrease)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.allowed = limit
        self.in_flight = 0
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> AdaptiveSlots:
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < self.allowed)
            self.in_flight += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        async with self._changed:
            self.in_flight -= 1
            self._changed.notify_all()

    def slow_down(self) -> None:
        self.allowed = max(1, self.allowed // 2)

    async def speed_up(self) -> None:
        if self.allowed < self.limit:
            async with self._changed:
                self.allowed += 1
                self._changed.notify_all()
