"""The send limiter's rules on a fake clock: GCRA spacing with a margin keeps every fixed
window of the remote side within its limit, late callers give their slot up, pauses hold."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jinli.platform.ratelimit import (
    MICROS,
    Grant,
    MemoryRateStore,
    Rate,
    RateLimiter,
    gcra_push_back,
    gcra_reserve,
)


class FakeTime:
    """A monotonic clock that moves only when someone sleeps (by ``overshoot`` more, once)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.overshoot: list[float] = []
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds + (self.overshoot.pop(0) if self.overshoot else 0.0)


def worst_window(arrivals_us: list[int], window_us: int, phase_us: int) -> int:
    """The most arrivals in one fixed window of the remote side (windows start at phase)."""
    counts = Counter((t - phase_us) // window_us for t in arrivals_us)
    return max(counts.values(), default=0)


def slots_for(requests_us: list[int], interval_us: int) -> list[int]:
    tat, slots = 0, []
    for now in sorted(requests_us):
        slot, tat = gcra_reserve(tat, now, interval_us)
        slots.append(slot)
    return slots


def test_intervals_hold_the_documented_limits_with_the_margin() -> None:
    """100/s with 50 ms of margin is one call per 10.5 ms (95.2/s); 1,800/min one per
    33.362 ms (29.97/s); rounding always goes towards slower."""
    assert Rate(100, 1, 0.05).interval_us == 10_500
    assert Rate(100, 1, 0.05).per_second == pytest.approx(95.238, abs=0.001)
    assert Rate(1800, 60, 0.05).interval_us == 33_362
    assert Rate(20, 1, 0).interval_us == 50_000
    assert Rate(3, 1, 0).interval_us == 333_334
    with pytest.raises(ValueError, match="rate"):
        Rate(0, 1)


def test_reserve_spaces_slots_and_an_idle_limiter_starts_now() -> None:
    assert gcra_reserve(0, 5_000, 100) == (5_000, 5_100)
    assert gcra_reserve(5_100, 5_000, 100) == (5_100, 5_200)
    assert gcra_reserve(5_200, 9_000, 100) == (9_000, 9_100)  # idle time is not banked


def test_a_lead_keeps_slots_ahead_of_now_without_spacing_them_wider() -> None:
    assert gcra_reserve(0, 5_000, 100, lead_us=40) == (5_040, 5_140)
    assert gcra_reserve(5_140, 5_050, 100, lead_us=40) == (5_140, 5_240)  # queued: no cost


def test_push_back_never_moves_the_next_slot_earlier() -> None:
    assert gcra_push_back(0, 1_000, 500) == 1_500
    assert gcra_push_back(9_000, 1_000, 500) == 9_000


LIMITS = st.sampled_from([(100, 1.0), (30, 1.0), (20, 1.0), (1800, 60.0), (7, 2.0)])


@given(
    limit=LIMITS,
    allowance=st.sampled_from([0.01, 0.05, 0.2]),
    gaps=st.lists(st.integers(0, 30_000), min_size=1, max_size=400),
    jitter=st.lists(st.floats(0, 1), min_size=400, max_size=400),
    base_delay_us=st.integers(0, 2 * MICROS),
    phase_us=st.integers(0, 60 * MICROS),
)
def test_no_remote_window_overfills_whatever_the_jitter_within_the_margin(
    limit: tuple[int, float],
    allowance: float,
    gaps: list[int],
    jitter: list[float],
    base_delay_us: int,
    phase_us: int,
) -> None:
    """Callers ask at any times; each call reaches the remote side after a delay that varies
    by at most the margin; the remote side counts in fixed windows of any phase: no window
    ever holds more than the limit."""
    calls, per_seconds = limit
    rate = Rate(calls, per_seconds, allowance)
    requests, t = [], 0
    for gap in gaps:
        t += gap
        requests.append(t)
    slots = slots_for(requests, rate.interval_us)
    spread = int(allowance * MICROS)
    arrivals = [
        slot + base_delay_us + int(j * spread) for slot, j in zip(slots, jitter, strict=False)
    ]
    assert worst_window(arrivals, int(per_seconds * MICROS), phase_us) <= calls


def test_without_the_margin_jitter_does_overfill_a_window() -> None:
    """The check above can fail: spacing at exactly the limit, one late call is enough."""
    rate = Rate(10, 1.0, allowance=0.0)
    slots = slots_for([0] * 11, rate.interval_us)  # 0, 0.1 s, … 1.0 s
    arrivals = [slots[0] + 60_000, *slots[1:]]  # the first one 60 ms late
    assert worst_window(arrivals, MICROS, phase_us=50_000) == 11
    spaced = slots_for([0] * 11, Rate(10, 1.0, allowance=0.06).interval_us)
    assert worst_window([spaced[0] + 60_000, *spaced[1:]], MICROS, phase_us=50_000) <= 10


class TestLimiter:
    def _limiter(self, fake: FakeTime) -> RateLimiter:
        store = MemoryRateStore(now=fake.monotonic)
        return RateLimiter(store, monotonic=fake.monotonic, sleep=fake.sleep)

    async def test_callers_return_one_interval_apart(self) -> None:
        fake = FakeTime()
        limiter = self._limiter(fake)
        rate = Rate(20, 1.0, 0.05)
        times = []
        for _ in range(5):
            assert await limiter.acquire("k", rate, max_wait=5)
            times.append(fake.now)
        gaps = [round(b - a, 6) for a, b in itertools.pairwise(times)]
        assert times[0] == 1000.0  # an idle limiter does not make anyone wait
        assert gaps == [0.0525] * 4
        assert limiter.missed == 0

    async def test_a_store_answering_late_gets_slots_reserved_further_ahead(self) -> None:
        """Replies that come 40 ms later than usual would miss every slot granted "now", one
        after another; the limiter reserves twice that spread ahead instead."""
        fake = FakeTime()
        store = MemoryRateStore(now=fake.monotonic)
        delays = [0.0, 0.040, 0.040, 0.040]

        class SlowStore:
            async def reserve(self, key: str, interval_us: int, lead_us: int = 0) -> Grant:
                grant = await store.reserve(key, interval_us, lead_us)
                fake.now += delays.pop(0)  # the reply arrives this long after the store read
                return grant

            async def push_back(self, key: str, pause_us: int) -> None:
                await store.push_back(key, pause_us)

            async def now_us(self) -> int:
                return await store.now_us()

        limiter = RateLimiter(SlowStore(), monotonic=fake.monotonic, sleep=fake.sleep)
        rate = Rate(100, 1.0, 0.05)
        assert await limiter.acquire("k", rate, max_wait=5)
        fake.now += 1.0  # idle: the next slot is "now"
        assert await limiter.acquire("k", rate, max_wait=5)
        assert limiter.missed == 1  # the slot granted "now" passed before its reply came
        assert fake.slept[-1] == pytest.approx(0.080 - 0.040, abs=1e-5)  # 80 ms ahead
        fake.now += 1.0
        assert await limiter.acquire("k", rate, max_wait=5)
        assert limiter.missed == 1  # reserved ahead at once

    async def test_keys_are_independent(self) -> None:
        fake = FakeTime()
        limiter = self._limiter(fake)
        rate = Rate(1, 10.0, 0)
        assert await limiter.acquire("transfer", rate, max_wait=1)
        assert await limiter.acquire("red_packet", rate, max_wait=1)
        assert fake.now == 1000.0

    async def test_a_caller_waking_too_late_gives_its_slot_up(self) -> None:
        """A stalled caller must not fire late next to an on-time one: it takes a new slot."""
        fake = FakeTime()
        limiter = self._limiter(fake)
        rate = Rate(10, 1.0, 0.05)  # tolerance 25 ms
        assert await limiter.acquire("k", rate, max_wait=5)
        fake.overshoot = [0.030]
        assert await limiter.acquire("k", rate, max_wait=5)
        assert limiter.missed == 1
        # It woke at 1.105 + 0.030; its new slot is the next free one, 2 intervals after 1000.
        assert fake.now == pytest.approx(1000.0 + 2 * 0.105)

    async def test_a_little_lateness_is_tolerated(self) -> None:
        fake = FakeTime()
        limiter = self._limiter(fake)
        rate = Rate(10, 1.0, 0.05)
        assert await limiter.acquire("k", rate, max_wait=5)
        fake.overshoot = [0.020]
        assert await limiter.acquire("k", rate, max_wait=5)
        assert limiter.missed == 0
        assert fake.now == pytest.approx(1000.0 + 0.105 + 0.020)

    async def test_no_slot_within_max_wait_is_refused_without_waiting(self) -> None:
        fake = FakeTime()
        limiter = self._limiter(fake)
        rate = Rate(1, 10.0, 0)
        assert await limiter.acquire("k", rate, max_wait=1)
        assert not await limiter.acquire("k", rate, max_wait=1)
        assert fake.slept == []

    async def test_a_caller_out_of_time_takes_no_slot(self) -> None:
        fake = FakeTime()
        limiter = self._limiter(fake)
        rate = Rate(1, 10.0, 0)
        assert not await limiter.acquire("k", rate, max_wait=0)
        assert await limiter.acquire("k", rate, max_wait=1)  # the first slot is still free
        assert fake.now == 1000.0

    async def test_back_off_pauses_the_key(self) -> None:
        fake = FakeTime()
        limiter = self._limiter(fake)
        rate = Rate(100, 1.0, 0.05)
        assert await limiter.acquire("k", rate, max_wait=5)
        await limiter.back_off("k", 1.5)
        assert await limiter.acquire("k", rate, max_wait=5)
        assert fake.now == pytest.approx(1001.5)
        await limiter.back_off("k", 0.5)  # a shorter pause does not shorten a longer one
        await limiter.back_off("k", 0.1)
        assert await limiter.acquire("k", rate, max_wait=5)
        assert fake.now == pytest.approx(1002.0)


def test_settings_default_to_wechats_limits_and_can_be_lowered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Defaults are the documented per-merchant limits; a merchant shared with another system
    lowers them through the environment."""
    from jinli.platform.settings import Settings

    defaults = Settings(_env_file=None).wechatpay.dispatch  # type: ignore[call-arg]
    assert (defaults.transfer.calls, defaults.transfer.per_seconds) == (100, 1)
    assert (defaults.red_packet.calls, defaults.red_packet.per_seconds) == (1800, 60)
    assert (defaults.brand_red_packet.calls, defaults.brand_red_packet.per_seconds) == (100, 1)
    assert defaults.max_wait_seconds < 60  # well inside the claim's lease
    monkeypatch.setenv("JINLI_WECHATPAY__DISPATCH__TRANSFER__CALLS", "60")
    monkeypatch.setenv("JINLI_WECHATPAY__DISPATCH__RED_PACKET__CALLS", "1200")
    monkeypatch.setenv("JINLI_WECHATPAY__DISPATCH__CONCURRENCY", "4")
    lowered = Settings(_env_file=None).wechatpay.dispatch  # type: ignore[call-arg]
    assert (lowered.transfer.calls, lowered.transfer.per_seconds) == (60, 1)
    assert (lowered.red_packet.calls, lowered.red_packet.per_seconds) == (1200, 60)  # a minute
    assert lowered.concurrency == 4
