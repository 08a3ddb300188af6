"""A campaign's payout options: the mode, the automatic reissue policy and its count."""

from __future__ import annotations

import pytest

from jinli.campaigns import domain
from jinli.campaigns.domain import (
    MAX_AUTO_REISSUES,
    PayoutMode,
    PayoutTerms,
    ReissuePolicy,
    check_payout_options,
    payout_terms,
)
from jinli.campaigns.errors import InvalidPayoutPolicy
from jinli.payouts.domain import PayoutMode as PayoutsPayoutMode

P = ReissuePolicy
M = PayoutMode


def test_campaign_modes_are_the_payout_modes() -> None:
    """Campaigns keep their own words (the two are peers), but the values must be the ones
    ``payouts.create_payout`` understands."""
    assert {m.value for m in M} == {m.value for m in PayoutsPayoutMode}


@pytest.mark.parametrize(
    ("policy", "mode", "override", "expected"),
    [
        (P.off, M.transfer, None, PayoutTerms("transfer", None, 0)),
        (P.same_mode, M.red_packet, None, PayoutTerms("red_packet", "red_packet", 2)),
        (P.same_mode, M.transfer, M.red_packet, PayoutTerms("red_packet", "red_packet", 2)),
        (P.as_transfer, M.red_packet, None, PayoutTerms("red_packet", "transfer", 2)),
        (
            P.as_brand_red_packet,
            M.transfer,
            None,
            PayoutTerms("transfer", "brand_red_packet", 2),
        ),
    ],
)
def test_payout_terms_follow_the_policy(
    policy: ReissuePolicy, mode: PayoutMode, override: PayoutMode | None, expected: PayoutTerms
) -> None:
    """Each payout carries the mode of its automatic reissue and how many it may have; with
    the policy off it carries none, whatever the count says."""
    assert payout_terms(mode, policy, 2, override_mode=override) == expected


@pytest.mark.parametrize("count", [-1, MAX_AUTO_REISSUES + 1, 100])
def test_the_count_is_bounded(count: int) -> None:
    with pytest.raises(InvalidPayoutPolicy):
        check_payout_options(P.off, count)


def test_a_policy_without_reissues_is_refused_but_off_with_zero_is_fine() -> None:
    with pytest.raises(InvalidPayoutPolicy) as refused:
        check_payout_options(P.as_transfer, 0)
    assert refused.value.code == "invalid_payout_policy"
    check_payout_options(P.off, 0)
    check_payout_options(P.same_mode, MAX_AUTO_REISSUES)


def test_payout_options_are_editable_until_the_campaign_ends() -> None:
    """Payouts keep the options they were created with, so changing them while live is safe;
    an ended or settled campaign changes nothing."""
    S = domain.CampaignStatus
    for status in (S.draft, S.scheduled, S.live, S.paused):
        assert domain.EDITABLE_FIELDS[status] >= domain.PAYOUT_FIELDS
    for status in (S.ended, S.settled):
        assert not domain.PAYOUT_FIELDS & domain.EDITABLE_FIELDS[status]
