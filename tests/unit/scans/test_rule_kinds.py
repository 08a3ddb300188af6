"""The campaign reward rules scan-to-win adds: regional prize tables, the lucky-split pool and
the result page's message and link (validated when the campaign is created or edited)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from jinli.campaigns import domain
from jinli.campaigns.errors import InvalidRewardRule
from jinli.campaigns.schemas import CampaignCreate

BASE = {
    "name": "瓶盖扫码",
    "budget_cap_fen": 100_000,
    "starts_at": "2026-11-01T00:00",
    "ends_at": "2026-12-01T00:00",
}


def _rule(rule: dict[str, Any]) -> domain.RewardRule:
    data = CampaignCreate.model_validate({**BASE, "reward_rule": rule})
    return domain.rule_from_dict(data.reward_rule.model_dump())


class TestStoredForms:
    def test_regional_tiers_round_trip_and_omit_empty_extras(self) -> None:
        rule = _rule(
            {
                "kind": "tiers",
                "tiers": [{"amount_fen": 188, "probability_ppm": 100_000, "label": "二等奖"}],
                "regions": {"浙江/杭州": [{"amount_fen": 288, "probability_ppm": 100_000}]},
                "message": "谢谢支持",
            }
        )
        stored = rule.to_dict()
        assert stored["regions"] == {
            "浙江/杭州": [{"amount_fen": 288, "probability_ppm": 100_000, "label": ""}]
        }
        assert stored["message"] == "谢谢支持"
        assert "link_url" not in stored
        assert domain.rule_from_dict(stored) == rule
        plain = _rule({"kind": "tiers", "tiers": [{"amount_fen": 1, "probability_ppm": 1}]})
        assert set(plain.to_dict()) == {"kind", "tiers"}

    def test_lucky_split_round_trips_with_its_algorithm(self) -> None:
        rule = _rule(
            {
                "kind": "lucky_split",
                "total_fen": 100_000,
                "shares": 500,
                "algorithm": "line_segment",
            }
        )
        stored = rule.to_dict()
        assert stored == {
            "kind": "lucky_split",
            "total_fen": 100_000,
            "shares": 500,
            "algorithm": "line_segment",
            "min_fen": 1,
            "max_fen": None,
        }
        assert domain.rule_from_dict(stored) == rule

    def test_fixed_keeps_its_old_stored_form(self) -> None:
        assert _rule({"kind": "fixed", "amount_fen": 188}).to_dict() == {
            "kind": "fixed",
            "amount_fen": 188,
            "max_winners": None,
        }


class TestRefused:
    @pytest.mark.parametrize(
        "rule",
        [
            {"kind": "lucky_split", "total_fen": 99, "shares": 100},
            {"kind": "lucky_split", "total_fen": 10_000, "shares": 2, "max_fen": 100},
            {"kind": "fixed", "amount_fen": 188, "link_url": "javascript:alert(1)"},
            {"kind": "fixed", "amount_fen": 188, "link_label": "去看看"},
            {
                "kind": "tiers",
                "tiers": [{"amount_fen": 1, "probability_ppm": 1}],
                "regions": {"浙江//杭州": [{"amount_fen": 1, "probability_ppm": 1}]},
            },
            {
                "kind": "tiers",
                "tiers": [
                    {"amount_fen": 1, "probability_ppm": 1, "label": "a"},
                    {"amount_fen": 2, "probability_ppm": 1, "label": "a"},
                ],
            },
        ],
    )
    def test_invalid_rules_are_refused_by_the_domain(self, rule: dict[str, Any]) -> None:
        with pytest.raises(InvalidRewardRule):
            _rule(rule)

    @pytest.mark.parametrize(
        "rule",
        [
            {"kind": "lucky_split", "total_fen": 1.5, "shares": 1},
            {"kind": "lucky_split", "total_fen": 100, "shares": 0},
            {"kind": "lucky_split", "total_fen": 100, "shares": 1, "algorithm": "magic"},
            {"kind": "tiers", "tiers": [{"amount_fen": 2_000_001, "probability_ppm": 1}]},
            {"kind": "fixed", "amount_fen": 1, "message": "长" * 201},
        ],
    )
    def test_malformed_rules_are_refused_by_the_schema(self, rule: dict[str, Any]) -> None:
        with pytest.raises(ValidationError):
            CampaignCreate.model_validate({**BASE, "reward_rule": rule})
