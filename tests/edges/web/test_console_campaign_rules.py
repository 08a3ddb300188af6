"""The console campaign form for every reward rule the API takes: a lucky split (yuan in,
fen stored), prize tiers with regional tables (repeatable blocks, more added without
JavaScript), fixed amounts with a winner limit, and the result page's message and link.
Invalid input re-renders the form with the reason and what was typed, and saves nothing."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import structlog

from jinli.app.web import create_app
from jinli.campaigns import service as campaigns_service
from jinli.platform.runtime import Runtime
from tests.conftest import BACKENDS
from tests.edges.web._console import CLIENT_IP, Browser, csrf_of, db_state, shanghai_input
from tests.factories import BrandFixture, create_brand, create_campaign

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

REGION_BLOCK = 'data-testid="region-block"'


@pytest.fixture
async def browser(runtime: Runtime) -> AsyncIterator[tuple[Browser, BrandFixture]]:
    with structlog.testing.capture_logs():
        transport = httpx.ASGITransport(app=create_app(runtime), client=(CLIENT_IP, 50000))
        brand = await create_brand(runtime)
        one = Browser(transport)
        assert (await one.login(brand.owner_email)).status_code == 303
        yield one, brand
        await one.aclose()


def _form(runtime: Runtime, token: str, **fields: Any) -> dict[str, Any]:
    return {
        "csrf_token": token,
        "name": f"规则 {uuid.uuid4().hex[:6]}",
        "description": "扫码赢红包",
        "budget_cap": "10000",
        "initial_funding": "500",
        "starts_at": shanghai_input(runtime, timedelta(hours=1)),
        "ends_at": shanghai_input(runtime, timedelta(days=7)),
        "payout_mode": "transfer",
        "reissue_policy": "off",
        "max_auto_reissues": "1",
        **fields,
    }


async def _token(one: Browser) -> str:
    return csrf_of(await one.http.get("/console/campaigns/new"))


def _created(answer: httpx.Response) -> uuid.UUID:
    assert answer.status_code == 303, answer.text
    path = answer.headers["location"].split("?")[0]
    return uuid.UUID(path.rsplit("/", 1)[1])


async def _rule(runtime: Runtime, brand: BrandFixture, cid: uuid.UUID) -> dict[str, Any]:
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        return dict((await campaigns_service.get(uow, brand.actor(), cid)).reward_rule)


def _field(page: httpx.Response, name: str) -> str:
    """The value an <input> of the page carries."""
    found = re.search(rf'name="{name}"[^>]*?value="([^"]*)"', page.text)
    assert found is not None, f"no input {name}"
    return found.group(1)


async def test_a_lucky_split_is_created_in_yuan_and_stored_in_fen(
    runtime: Runtime, browser: tuple[Browser, BrandFixture]
) -> None:
    """500 yuan in 100 shares of 1–20 yuan by line segment, with the result page's message
    and link: stored in fen, shown on the campaign page, and filled back into the edit form."""
    one, brand = browser
    token = await _token(one)
    cid = _created(
        await one.http.post(
            "/console/campaigns/new",
            data=_form(
                runtime,
                token,
                reward_kind="lucky_split",
                split_total="500",
                split_shares="100",
                split_algorithm="line_segment",
                split_min="1",
                split_max="20.00",
                message="感谢支持锦鲤茶饮",
                link_url="weixin://dl/business/?t=abc",
                link_label="去小程序",
                fixed_amount="9.99",  # another kind's field: ignored
            ),
        )
    )
    assert await _rule(runtime, brand, cid) == {
        "kind": "lucky_split",
        "total_fen": 50_000,
        "shares": 100,
        "algorithm": "line_segment",
        "min_fen": 100,
        "max_fen": 2_000,
        "message": "感谢支持锦鲤茶饮",
        "link_url": "weixin://dl/business/?t=abc",
        "link_label": "去小程序",
    }
    page = await one.http.get(f"/console/campaigns/{cid}")
    assert "拼手气红包: ¥500.00 · 100 个 · 线段切割（差距最大）" in page.text
    assert "单个金额: ¥1.00 – ¥20.00" in page.text
    assert "“感谢支持锦鲤茶饮”" in page.text
    edit = await one.http.get(f"/console/campaigns/{cid}/edit")
    assert (_field(edit, "split_total"), _field(edit, "split_shares")) == ("500.00", "100")
    assert (_field(edit, "split_min"), _field(edit, "split_max")) == ("1.00", "20.00")
    assert 'value="line_segment" selected' in edit.text
    assert _field(edit, "link_url") == "weixin://dl/business/?t=abc"


async def test_prize_tiers_take_regional_tables_and_skip_empty_blocks(
    runtime: Runtime, browser: tuple[Browser, BrandFixture]
) -> None:
    """A default table plus 浙江 and 浙江/杭州 tables (an untouched third block is skipped);
    chances keep 4 decimals (0.0001 % = 1 ppm); the page lists each region's table and the
    edit form shows the two regions plus one empty block."""
    one, brand = browser
    token = await _token(one)
    cid = _created(
        await one.http.post(
            "/console/campaigns/new",
            data=_form(
                runtime,
                token,
                reward_kind="tiers",
                tiers="8.88 1 一等奖\n1.88 10% 二等奖\n",
                region_name=["浙江", " 浙江/杭州 ", ""],
                region_tiers=["18.88 0.0001 头奖\n", "2 20 杭州奖", "  "],
            ),
        )
    )
    assert await _rule(runtime, brand, cid) == {
        "kind": "tiers",
        "tiers": [
            {"amount_fen": 888, "probability_ppm": 10_000, "label": "一等奖"},
            {"amount_fen": 188, "probability_ppm": 100_000, "label": "二等奖"},
        ],
        "regions": {
            "浙江": [{"amount_fen": 1888, "probability_ppm": 1, "label": "头奖"}],
            "浙江/杭州": [{"amount_fen": 200, "probability_ppm": 200_000, "label": "杭州奖"}],
        },
    }
    page = await one.http.get(f"/console/campaigns/{cid}")
    assert page.text.count('data-testid="region-table"') == 2
    assert "地区: 浙江/杭州" in page.text
    assert "0.0001 %" in page.text
    edit = await one.http.get(f"/console/campaigns/{cid}/edit")
    assert edit.text.count(REGION_BLOCK) == 3
    assert "18.88 0.0001 头奖" in edit.text
    assert "8.88 1 一等奖\n1.88 10 二等奖" in edit.text


async def test_add_a_region_shows_another_block_and_saves_nothing(
    runtime: Runtime, browser: tuple[Browser, BrandFixture]
) -> None:
    """Pressing "Add a region" (a plain submit button, so it works without JavaScript)
    returns the form as typed with one more empty block; nothing is written."""
    one, _ = browser
    token = await _token(one)
    before = await db_state(runtime)
    answer = await one.http.post(
        "/console/campaigns/new",
        data=_form(
            runtime,
            token,
            name="还没保存",
            reward_kind="tiers",
            tiers="1 5 小奖",
            region_name=["广东", ""],
            region_tiers=["3 5 广东奖", ""],
            add_region="1",
        ),
    )
    assert answer.status_code == 200
    assert answer.text.count(REGION_BLOCK) == 3  # 广东, the empty one posted, one more
    assert 'value="广东"' in answer.text
    assert _field(answer, "name") == "还没保存"
    assert 'data-testid="form-error"' not in answer.text
    assert await db_state(runtime) == before


async def test_a_fixed_amount_takes_a_winner_limit(
    runtime: Runtime, browser: tuple[Browser, BrandFixture]
) -> None:
    """1.88 yuan to at most 200 winners, with a message and no link."""
    one, brand = browser
    token = await _token(one)
    cid = _created(
        await one.http.post(
            "/console/campaigns/new",
            data=_form(
                runtime,
                token,
                reward_kind="fixed",
                fixed_amount="1.88",
                max_winners="200",
                message="谢谢参与",
            ),
        )
    )
    assert await _rule(runtime, brand, cid) == {
        "kind": "fixed",
        "amount_fen": 188,
        "max_winners": 200,
        "message": "谢谢参与",
    }
    page = await one.http.get(f"/console/campaigns/{cid}")
    assert "固定金额: ¥1.88 · 最多 200 人" in page.text


INVALID = [
    pytest.param(
        {"reward_kind": "lucky_split", "split_total": "500", "split_shares": "many"},
        "split_shares: “many” is not a whole number",
        id="shares-not-a-number",
    ),
    pytest.param(
        {"reward_kind": "lucky_split", "split_total": "0.50", "split_shares": "100"},
        "cannot be split into 100 shares",
        id="total-too-small-for-the-shares",
    ),
    pytest.param(
        {"reward_kind": "lucky_split", "split_total": "5.5.5", "split_shares": "10"},
        "split_total: “5.5.5” is not an amount in yuan",
        id="total-not-yuan",
    ),
    pytest.param(
        {"reward_kind": "fixed", "fixed_amount": "1", "max_winners": "ten"},
        "max_winners: “ten” is not a whole number",
        id="winners-not-a-number",
    ),
    pytest.param(
        {"reward_kind": "fixed", "fixed_amount": "1", "max_winners": "0"},
        "max_winners",
        id="zero-winners",
    ),
    pytest.param(
        {"reward_kind": "tiers", "tiers": "1 5", "region_name": "浙江", "region_tiers": ""},
        "region 浙江: give it at least one tier",
        id="region-without-tiers",
    ),
    pytest.param(
        {"reward_kind": "tiers", "tiers": "1 5", "region_name": "", "region_tiers": "1 5"},
        "regional table 1: name its region",
        id="tiers-without-a-region",
    ),
    pytest.param(
        {
            "reward_kind": "tiers",
            "tiers": "1 5",
            "region_name": ["浙江", "浙江"],
            "region_tiers": ["1 5", "2 5"],
        },
        "region 浙江 has two tables",
        id="region-twice",
    ),
    pytest.param(
        {"reward_kind": "tiers", "tiers": "1 5", "region_name": "浙江", "region_tiers": "1 x"},
        "region 浙江: tier line 1",
        id="bad-regional-line",
    ),
    pytest.param(
        {"reward_kind": "fixed", "fixed_amount": "1", "link_url": "javascript:alert(1)"},
        "https://, http:// or weixin://",
        id="unsafe-link",
    ),
    pytest.param(
        {"reward_kind": "fixed", "fixed_amount": "1", "link_label": "去看看"},
        "a link label needs a link",
        id="label-without-link",
    ),
    pytest.param({"reward_kind": "jackpot"}, "unknown reward rule kind", id="unknown-kind"),
]


@pytest.mark.parametrize(("fields", "reason"), INVALID)
async def test_invalid_rules_rerender_the_form_and_save_nothing(
    runtime: Runtime,
    browser: tuple[Browser, BrandFixture],
    fields: dict[str, Any],
    reason: str,
) -> None:
    """Each mistake comes back as the form with the reason and the typed name; nothing is
    written."""
    one, _ = browser
    token = await _token(one)
    before = await db_state(runtime)
    answer = await one.http.post(
        "/console/campaigns/new", data=_form(runtime, token, name="不要保存", **fields)
    )
    assert answer.status_code == 422, answer.text
    assert 'data-testid="form-error"' in answer.text
    error = re.search(r'data-testid="form-error">([^<]*)<', answer.text)
    assert error is not None
    assert reason in error.group(1).replace("&#34;", '"').replace("&#39;", "'")
    assert _field(answer, "name") == "不要保存"
    assert await db_state(runtime) == before


async def test_editing_a_draft_switches_its_rule_and_a_mistake_keeps_the_stored_one(
    runtime: Runtime, browser: tuple[Browser, BrandFixture]
) -> None:
    """A draft's fixed rule becomes a lucky split through the edit form; a later edit with
    an infeasible split is refused and the stored rule stays."""
    one, brand = browser
    cid = await create_campaign(runtime, brand)
    edit = await one.http.get(f"/console/campaigns/{cid}/edit")
    token = csrf_of(edit)
    fields = _form(runtime, token, version="1", reward_kind="lucky_split")
    fields |= {"split_total": "88.88", "split_shares": "8"}
    saved = await one.http.post(f"/console/campaigns/{cid}/edit", data=fields)
    assert saved.status_code == 303, saved.text
    expected = {"kind": "lucky_split", "total_fen": 8_888, "shares": 8}
    expected |= {"algorithm": "double_mean", "min_fen": 1, "max_fen": None}
    assert await _rule(runtime, brand, cid) == expected

    refused = await one.http.post(
        f"/console/campaigns/{cid}/edit",
        data=fields | {"version": "2", "split_max": "1"},
    )
    assert refused.status_code == 422, refused.text
    assert "cannot be split into 8 shares" in refused.text
    assert await _rule(runtime, brand, cid) == expected
