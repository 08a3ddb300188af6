"""The live view's pure rules: which counters an event moves, Beijing hours, budget burn."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jinli.analytics import domain
from jinli.analytics.domain import (
    Bump,
    CounterRow,
    CrossRegion,
    Guessing,
    MalformedEvent,
    Metric,
    Money,
)
from jinli.kernel.money import Fen

CAMPAIGN = uuid.uuid4()
T0 = datetime(2026, 11, 23, 4, 30, tzinfo=UTC)  # 12:30 in Beijing


def _money(*, paid: int = 0, reserved: int = 0, available: int = 0) -> Money:
    funded = paid + reserved + available
    return Money(
        cap_fen=Fen(funded),
        funded_fen=Fen(funded),
        paid_fen=Fen(paid),
        reserved_fen=Fen(reserved),
        available_fen=Fen(available),
        returned_fen=Fen(0),
    )


class TestChangeFor:
    def test_a_claim_moves_outcome_tier_hour_and_region_with_its_prize(self) -> None:
        change = domain.change_for(
            "scan.claimed",
            {
                "campaign_id": str(CAMPAIGN),
                "batch_id": str(uuid.uuid4()),
                "region": "浙江省杭州市",
                "scan_region": "上海市",
                "tier": "一等奖",
                "amount_fen": 888,
                "payout_id": None,
            },
            T0,
        )
        assert change is not None
        assert change.campaign_id == CAMPAIGN
        assert set(change.bumps) == {
            Bump(Metric.scans, "claimed"),
            Bump(Metric.tier, "一等奖", amount_fen=Fen(888)),
            Bump(Metric.hour_claimed, "2026112312", amount_fen=Fen(888)),
            Bump(Metric.region_claimed, "上海市", amount_fen=Fen(888)),
        }

    def test_a_claim_without_scan_region_counts_under_the_batch_region(self) -> None:
        change = domain.change_for(
            "scan.claimed",
            {
                "campaign_id": str(CAMPAIGN),
                "region": "杭州",
                "scan_region": None,
                "tier": None,
                "amount_fen": 0,
            },
            T0,
        )
        assert change is not None
        assert Bump(Metric.region_claimed, "杭州") in change.bumps
        assert Bump(Metric.tier, "") in change.bumps

    def test_refusals_count_by_reason_and_hour(self) -> None:
        change = domain.change_for(
            "scan.refused", {"campaign_id": str(CAMPAIGN), "reason": "throttled"}, T0
        )
        assert change is not None
        assert set(change.bumps) == {
            Bump(Metric.scans, "refused"),
            Bump(Metric.refused, "throttled"),
            Bump(Metric.hour_refused, "2026112312"),
        }

    def test_cross_region_counts_against_the_shipping_region_and_keeps_the_alert(self) -> None:
        batch = uuid.uuid4()
        change = domain.change_for(
            "alert.cross_region",
            {
                "campaign_id": str(CAMPAIGN),
                "batch_id": str(batch),
                "batch_region": "杭州",
                "scan_region": "广州",
            },
            T0,
        )
        assert change is not None
        assert change.bumps == (Bump(Metric.region_cross, "杭州"),)
        assert change.alert == CrossRegion(batch, "杭州", "广州")

    def test_guessing_is_system_wide(self) -> None:
        change = domain.change_for("alert.guessing", {"count": 500, "window_seconds": 60}, T0)
        assert change is not None
        assert change.campaign_id is None
        assert change.bumps == ()
        assert change.alert == Guessing(500, 60)

    @pytest.mark.parametrize("state", ["created", "succeeded", "failed", "review"])
    def test_payout_events_count_with_their_amount(self, state: str) -> None:
        change = domain.change_for(
            f"payout.{state}",
            {
                "payout_id": str(uuid.uuid4()),
                "campaign_id": str(CAMPAIGN),
                "state": state,
                "amount_fen": 188,
                "mode": "transfer",
                "bill_number": "X",
            },
            T0,
        )
        assert change is not None
        assert change.bumps == (Bump(Metric.payout, state, amount_fen=Fen(188)),)

    @pytest.mark.parametrize("topic", ["payout.reissued", "campaign.published", "scan.other"])
    def test_other_topics_are_ignored(self, topic: str) -> None:
        assert domain.change_for(topic, {"campaign_id": str(CAMPAIGN)}, T0) is None

    @pytest.mark.parametrize(
        ("topic", "payload"),
        [
            ("scan.claimed", {"campaign_id": "not-a-uuid", "amount_fen": 1}),
            ("scan.claimed", {"amount_fen": 1}),
            ("scan.claimed", {"campaign_id": str(CAMPAIGN), "amount_fen": 1.5}),
            ("scan.claimed", {"campaign_id": str(CAMPAIGN), "amount_fen": -1}),
            ("scan.claimed", {"campaign_id": str(CAMPAIGN), "amount_fen": True}),
            ("scan.refused", {"campaign_id": str(CAMPAIGN)}),
            ("alert.guessing", {"count": "many", "window_seconds": 60}),
            ("payout.created", {"campaign_id": str(CAMPAIGN)}),
        ],
    )
    def test_malformed_payloads_are_refused(self, topic: str, payload: dict[str, object]) -> None:
        with pytest.raises(MalformedEvent):
            domain.change_for(topic, payload, T0)


def test_merge_sums_bumps_of_one_counter_in_key_order() -> None:
    merged = domain.merge(
        [
            Bump(Metric.tier, "b", 1, Fen(5)),
            Bump(Metric.scans, "claimed"),
            Bump(Metric.tier, "b", 2, Fen(7)),
            Bump(Metric.tier, "a"),
        ]
    )
    assert merged == [
        Bump(Metric.scans, "claimed"),
        Bump(Metric.tier, "a"),
        Bump(Metric.tier, "b", 3, Fen(12)),
    ]


def test_beijing_hours_are_utc_plus_eight() -> None:
    assert domain.beijing_hour(datetime(2026, 11, 23, 16, 59, tzinfo=UTC)) == "2026112400"
    assert domain.hour_start("2026112400") == datetime(2026, 11, 23, 16, tzinfo=UTC)


def test_shown_hours_are_the_last_48_of_the_window_so_far() -> None:
    start = datetime(2026, 11, 20, 0, 15, tzinfo=UTC)
    hours = domain.shown_hours(start, start + timedelta(days=10), T0)
    assert len(hours) == domain.HOURS_SHOWN
    assert hours[-1] == domain.beijing_hour(T0)
    assert domain.shown_hours(T0 + timedelta(hours=1), T0 + timedelta(days=1), T0) == []
    short = domain.shown_hours(T0 - timedelta(minutes=90), T0 + timedelta(days=1), T0)
    assert short == ["2026112311", "2026112312"]


class TestBurn:
    START = T0 - timedelta(hours=10)
    END = T0 + timedelta(hours=10)

    def test_shares_of_time_and_budget_in_basis_points(self) -> None:
        burn = domain.burn(
            starts_at=self.START,
            ends_at=self.END,
            now=T0,
            money=_money(paid=300, reserved=100, available=600),
            prize_fen_by_hour={},
        )
        assert burn.elapsed_bp == 5_000
        assert burn.spent_bp == 4_000
        assert burn.rate_fen_per_hour == 0
        assert burn.exhausts_at is None
        assert not burn.exhausted

    def test_projection_at_the_recent_rate(self) -> None:
        # 12:30 Beijing: this hour (12:00–) and the one before (11:00–) are 90 minutes.
        burn = domain.burn(
            starts_at=self.START,
            ends_at=self.END,
            now=T0,
            money=_money(paid=1_000, available=3_000),
            prize_fen_by_hour={"2026112311": 600, "2026112312": 300, "2026112310": 10_000},
        )
        assert burn.rate_fen_per_hour == 600  # 900 fen in 1.5 h; the older hour does not count
        assert burn.exhausts_at == T0 + timedelta(hours=5)
        assert burn.exhausts_before_end

    def test_a_budget_that_outlasts_the_window(self) -> None:
        burn = domain.burn(
            starts_at=self.START,
            ends_at=self.END,
            now=T0,
            money=_money(available=1_000_000),
            prize_fen_by_hour={"2026112312": 150},
        )
        assert burn.exhausts_at is not None
        assert not burn.exhausts_before_end

    def test_exhausted_and_not_started(self) -> None:
        spent = domain.burn(
            starts_at=self.START,
            ends_at=self.END,
            now=T0,
            money=_money(paid=500),
            prize_fen_by_hour={},
        )
        assert spent.exhausted
        assert spent.spent_bp == 10_000
        early = domain.burn(
            starts_at=T0 + timedelta(hours=1),
            ends_at=self.END,
            now=T0,
            money=_money(),
            prize_fen_by_hour={},
        )
        assert early.elapsed_bp == 0
        assert early.spent_bp is None
        assert early.rate_fen_per_hour is None
        assert not early.exhausted

    def test_no_rate_in_the_first_minutes(self) -> None:
        burn = domain.burn(
            starts_at=T0 - timedelta(minutes=5),
            ends_at=self.END,
            now=T0,
            money=_money(available=100),
            prize_fen_by_hour={"2026112312": 50},
        )
        assert burn.rate_fen_per_hour is None


def test_burn_series_is_cumulative_until_now_and_paced_over_the_window() -> None:
    start = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 Beijing
    end = start + timedelta(hours=6)
    points = domain.burn_series(
        starts_at=start,
        ends_at=end,
        now=start + timedelta(hours=2, minutes=30),
        budget_fen=Fen(600),
        prize_fen_by_hour={"2026112309": 100, "2026112310": 50, "2026112311": 25},
    )
    assert [p.at for p in points] == [start + timedelta(hours=h) for h in range(7)]
    assert [p.spent_fen for p in points] == [0, 100, 150, 175, None, None, None]
    assert [p.pace_fen for p in points] == [0, 100, 200, 300, 400, 500, 600]


@given(days=st.integers(min_value=1, max_value=400), offset=st.integers(0, 59))
def test_burn_series_stays_small_and_ends_at_the_end(days: int, offset: int) -> None:
    start = datetime(2026, 1, 1, 0, offset, tzinfo=UTC)
    end = start + timedelta(days=days)
    points = domain.burn_series(
        starts_at=start, ends_at=end, now=start, budget_fen=Fen(10**9), prize_fen_by_hour={}
    )
    assert len(points) <= domain.BURN_POINTS_MAX + 2
    assert points[-1].at == end
    assert points[-1].pace_fen == 10**9


def test_snapshot_assembles_counters() -> None:
    rows = [
        CounterRow(Metric.scans, "claimed", 5, Fen(0)),
        CounterRow(Metric.scans, "repeated", 2, Fen(0)),
        CounterRow(Metric.scans, "refused", 3, Fen(0)),
        CounterRow(Metric.refused, "throttled", 2, Fen(0)),
        CounterRow(Metric.refused, "martian", 1, Fen(0)),
        CounterRow(Metric.tier, "谢谢参与", 3, Fen(0)),
        CounterRow(Metric.tier, "一等奖", 2, Fen(1776)),
        CounterRow(Metric.hour_claimed, "2026112312", 5, Fen(1776)),
        CounterRow(Metric.region_claimed, "杭州", 5, Fen(1776)),
        CounterRow(Metric.region_repeated, "", 2, Fen(0)),
        CounterRow(Metric.region_cross, "杭州", 1, Fen(0)),
        CounterRow(Metric.payout, "created", 2, Fen(1776)),
    ]
    snap = domain.snapshot(
        campaign_id=CAMPAIGN,
        name="x",
        status="live",
        starts_at=T0 - timedelta(hours=1),
        ends_at=T0 + timedelta(days=1),
        now=T0,
        counters=rows,
        money=_money(reserved=1776, available=8224),
        invalid_by_hour={"2026112312": 7, "2026112311": 1},
        cross_region_alerts=[],
        guessing_alerts=[],
    )
    assert (snap.scans.valid, snap.scans.repeated, snap.scans.refused) == (5, 2, 3)
    assert snap.scans.invalid_48h == 8
    assert snap.refused_by_reason == {
        "inactive": 0,
        "not_live": 0,
        "budget_exhausted": 0,
        "throttled": 2,
        "martian": 1,
    }
    assert [(w.label, w.count, w.amount_fen) for w in snap.winners] == [
        ("一等奖", 2, 1776),
        ("谢谢参与", 3, 0),
    ]
    assert snap.payouts["created"].count == 2
    assert snap.payouts["failed"].count == 0
    assert [(h.hour, h.valid, h.invalid, h.prize_fen) for h in snap.hours] == [
        ("2026112311", 0, 1, 0),
        ("2026112312", 5, 7, 1776),
    ]
    assert [(r.region, r.valid, r.repeated, r.cross_region) for r in snap.regions] == [
        ("杭州", 5, 0, 1),
        ("", 0, 2, 0),
    ]
    assert snap.cross_region_total == 1
    assert snap.money.budget_fen == 10_000
    assert snap.money.spent_fen == 1776
