"""Pure compliance rules: wording WeChat treats as induced sharing or following (诱导分享/关注)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# (pattern, rule id, why). Patterns allow a few characters between the verb and the reward so
# that "转发本文抽奖" is caught as well as "转发抽奖".
_GAP = r".{0,6}"
BANNED_PATTERNS: tuple[tuple[str, str, str], ...] = (
    (
        rf"(转发|分享){_GAP}(抽奖|领取|领红包|得红包|送|赢)",
        "induced_share",
        "rewards for sharing are banned (转发/分享送奖励)",
    ),
    (rf"集{_GAP}赞", "collect_likes", "collecting likes for gifts is banned (集赞送礼)"),
    (
        rf"(关注|加好友){_GAP}(领|送|抽|得|红包)",
        "induced_follow",
        "rewards for following are banned (关注领红包)",
    ),
    (
        rf"(分享|转发){_GAP}(增加|多)(抽奖)?(机会|次数)",
        "share_for_chances",
        "extra chances for sharing are banned (分享后增加抽奖机会)",
    ),
    (
        r"不转不是|转发(后)?(一生平安|好运)|不转.{0,4}(倒霉|后悔)",
        "coercive",
        "coercive wording is banned (不转不是中国人)",
    ),
    (
        rf"(分享|转发)到?{_GAP}(朋友圈|群){_GAP}(才能|即可|后)",
        "forced_share",
        "gating content or rewards on sharing is banned",
    ),
)
_COMPILED = tuple((re.compile(p), rule, why) for p, rule, why in BANNED_PATTERNS)


@dataclass(frozen=True, slots=True)
class CopyFinding:
    rule: str
    excerpt: str
    why: str


def find_banned_wording(text: str) -> list[CopyFinding]:
    """Every banned phrase in ``text`` (whitespace ignored, so "转 发 抽 奖" is caught too)."""
    compact = re.sub(r"\s+", "", text)
    findings: list[CopyFinding] = []
    for pattern, rule, why in _COMPILED:
        for match in pattern.finditer(compact):
            findings.append(CopyFinding(rule=rule, excerpt=match.group(0), why=why))
    return findings
