"""The token bucket and the adaptive concurrency, on a clock the test moves."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from environment.models.rate_limit import (
    AdaptiveSlots,
    RequestPacer,
    TokenBucket,
    _seconds_until,
    remaining_tokens,
    requests_left,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.paused: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def pause(self, seconds: float) -> None:
        """What the bucket waits for: time passes at once, and is recorded."""
        self.paused.append(seconds)
        self.now += seconds


async def test_a_full_minute_passes_at_once_then_calls_wait_for_the_refill() -> None:
    clock = Clock()
    bucket = TokenBucket(6000, clock)  # 100 tokens a second
    for _ in range(3):
        assert await bucket.reserve(2000, clock.pause) == 2000
    assert clock.paused == []
    await bucket.reserve(500, clock.pause)
    assert clock.paused == [pytest.approx(5.0)]  # 500 tokens at 100/s
    bucket.settle(500, 200)  # the reply used less: 300 come back
    assert bucket.wait_s(300) == pytest.approx(0.0)


async def test_a_call_bigger_than_the_bucket_waits_for_a_full_one() -> None:
    clock = Clock()
    bucket = TokenBucket(600, clock)
    await bucket.reserve(600, clock.pause)
    await bucket.reserve(900, clock.pause)  # can never fit: takes a whole minute's worth
    assert clock.paused == [pytest.approx(60.0)]
    assert bucket.level == pytest.approx(-300)


async def test_the_providers_count_wins_when_it_says_less_is_left() -> None:
    clock = Clock()
    bucket = TokenBucket(6000, clock)
    bucket.learn(1000)
    assert bucket.wait_s(1500) == pytest.approx(5.0)
    bucket.learn(5000)  # more than it thinks: its own count stands
    assert bucket.level == pytest.approx(1000)
    assert remaining_tokens({"X-RateLimit-Remaining-Tokens": "1234"}) == 1234
    assert remaining_tokens({"anthropic-ratelimit-tokens-remaining": "7"}) == 7
    assert remaining_tokens({"x-ratelimit-remaining-tokens": "n/a"}) is None
    assert remaining_tokens({}) is None


async def test_concurrency_halves_on_a_rate_limit_and_grows_back_by_one() -> None:
    slots = AdaptiveSlots(8)
    slots.slow_down()
    slots.slow_down()
    assert slots.allowed == 2
    entered = [await slots.__aenter__() for _ in range(2)]
    third = asyncio.ensure_future(slots.__aenter__())
    await asyncio.sleep(0)  # one turn of the loop: the third is waiting, not through
    assert not third.done()
    await slots.speed_up()
    await third
    assert slots.in_flight == 3 and len(entered) == 2
    for _ in range(3):
        await slots.__aexit__(None, None, None)
    for _ in range(10):
        await slots.speed_up()
    assert slots.allowed == 8


async def test_a_refund_wakes_a_waiting_call_and_a_stop_ends_the_wait() -> None:
    bucket = TokenBucket(60)  # one token a second, on the real clock
    reserved = await bucket.reserve(60, asyncio.sleep)
    waiting = asyncio.ensure_future(bucket.reserve(30, asyncio.sleep))
    await asyncio.sleep(0)  # one turn: it is waiting for about 30 s
    assert not waiting.done()
    bucket.settle(reserved, 10)  # the first call used 10: 50 come back at once
    assert await waiting == 30

    class Stopped(Exception):
        pass

    async def stopping(seconds: float) -> None:
        raise Stopped

    with pytest.raises(Stopped):
        await bucket.reserve(60, stopping)


async def test_no_call_starts_before_the_providers_request_count_resets() -> None:
    clock = Clock()
    pacer = RequestPacer(None, clock)
    await pacer.wait_turn(clock.pause)
    pacer.learn(3, 20.0)  # requests left: nothing to hold
    assert pacer.wait_s() == 0.0
    pacer.learn(0, 1.5)  # none left until the reset
    await pacer.wait_turn(clock.pause)
    assert clock.paused == [pytest.approx(1.5)]
    assert requests_left({"x-ratelimit-remaining-requests": "0"}) == (0, None)
    assert requests_left(
        {"X-RateLimit-Remaining-Requests": "4", "x-ratelimit-reset-requests": "6m0.5s"}
    ) == (4, pytest.approx(360.5))
    assert requests_left(
        {"x-ratelimit-reset-requests": "20ms", "x-ratelimit-remaining-requests": "0"}
    ) == (
        0,
        pytest.approx(0.02),
    )
    now = datetime(2026, 12, 3, 10, 0, 0, tzinfo=UTC)
    in_a_minute = (now + timedelta(seconds=60)).isoformat()
    assert _seconds_until(in_a_minute, now) == pytest.approx(60.0)
    assert _seconds_until("2026-12-03T10:00:30Z", now) == pytest.approx(30.0)
    assert _seconds_until("soon", now) is None
    assert requests_left({}) == (None, None)
