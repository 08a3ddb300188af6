"""The campaign lifecycle, checked pair by pair against a table written out here.

The expected table is deliberately a second copy of the lifecycle: changing
``domain.TRANSITIONS`` makes these tests fail until the change is made here as well.
"""

from __future__ import annotations

import itertools

import pytest

from jinli.campaigns.domain import (
    EDITABLE_FIELDS,
    EVENT_NAMES,
    TRANSITIONS,
    Action,
    CampaignStatus,
    next_status,
)
from jinli.campaigns.errors import IllegalTransition
from jinli.kernel.errors import ErrorKind

D, SC, L, P, E, ST = (
    CampaignStatus.draft,
    CampaignStatus.scheduled,
    CampaignStatus.live,
    CampaignStatus.paused,
    CampaignStatus.ended,
    CampaignStatus.settled,
)
X = None  # illegal

# rows: current status; columns: publish, unpublish, start, pause, resume, end, settle
COLUMNS = (
    Action.publish,
    Action.unpublish,
    Action.start,
    Action.pause,
    Action.resume,
    Action.end,
    Action.settle,
)
EXPECTED_TABLE: dict[CampaignStatus, tuple[CampaignStatus | None, ...]] = {
    #     publish unpublish start pause resume end settle
    D: (SC, X, X, X, X, X, X),
    SC: (X, D, L, X, X, E, X),
    L: (X, X, X, P, X, E, X),
    P: (X, X, X, X, L, E, X),
    E: (X, X, X, X, X, X, ST),
    ST: (X, X, X, X, X, X, X),
}
EXPECTED: dict[tuple[CampaignStatus, Action], CampaignStatus | None] = {
    (status, action): target
    for status, row in EXPECTED_TABLE.items()
    for action, target in zip(COLUMNS, row, strict=True)
}
ALL_PAIRS = list(itertools.product(CampaignStatus, Action))


def test_the_expected_table_covers_every_status_and_action() -> None:
    """The table in this test names every status and every action, so no pair goes unchecked."""
    assert set(EXPECTED_TABLE) == set(CampaignStatus)
    assert set(COLUMNS) == set(Action)
    assert len(EXPECTED) == len(ALL_PAIRS) == len(CampaignStatus) * len(Action)


@pytest.mark.parametrize(("status", "action"), ALL_PAIRS, ids=lambda v: str(v))
def test_next_status_follows_the_table(status: CampaignStatus, action: Action) -> None:
    """Every (status, action) pair either reaches the expected status or is illegal with the
    stable code ``illegal_transition`` (HTTP 409)."""
    expected = EXPECTED[(status, action)]
    if expected is None:
        with pytest.raises(IllegalTransition) as caught:
            next_status(status, action)
        assert caught.value.code == "illegal_transition"
        assert caught.value.kind == ErrorKind.CONFLICT
        assert caught.value.extra == {"status": status, "action": action}
    else:
        assert next_status(status, action) == expected


def test_transitions_table_lists_exactly_the_legal_pairs() -> None:
    """TRANSITIONS holds the expected legal pairs and nothing else."""
    actual = {
        (source, action): target
        for action, moves in TRANSITIONS.items()
        for source, target in moves.items()
    }
    legal = {pair: target for pair, target in EXPECTED.items() if target is not None}
    assert actual == legal


def test_settled_is_terminal_and_draft_only_reachable_by_unpublishing() -> None:
    """No action leaves *settled*; only unpublish leads back to *draft*."""
    assert all(EXPECTED[(ST, action)] is None for action in Action)
    into_draft = {pair for pair, target in EXPECTED.items() if target == D}
    assert into_draft == {(SC, Action.unpublish)}


def test_every_status_is_reachable_from_draft() -> None:
    """Walking the table from *draft* reaches every status, ending in *settled*."""
    seen = {D}
    frontier = [D]
    while frontier:
        status = frontier.pop()
        for action in Action:
            target = TRANSITIONS[action].get(status)
            if target is not None and target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen == set(CampaignStatus)


def test_every_action_has_an_event_name() -> None:
    """Each action emits a dotted, past-tense event named after the campaign."""
    assert set(EVENT_NAMES) == set(Action)
    assert all(name.startswith("campaign.") for name in EVENT_NAMES.values())


def test_editable_fields_freeze_the_rules_once_consumers_take_part() -> None:
    """Start and reward rule are editable only before going live; ended/settled edit nothing."""
    assert set(EDITABLE_FIELDS) == set(CampaignStatus)
    for status in (D, SC):
        assert {"starts_at", "reward_rule"} <= EDITABLE_FIELDS[status]
    for status in (L, P, E, ST):
        assert not {"starts_at", "reward_rule"} & EDITABLE_FIELDS[status]
    assert EDITABLE_FIELDS[E] == EDITABLE_FIELDS[ST] == frozenset()
