"""The tenancy guard (I8) on the real models and databases: every ORM statement on a brand-owned
table is scoped to the acting brand, wherever the table appears in it; a statement with no brand
scope is refused; a row of another brand cannot be flushed."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Select, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from jinli.accounts import service as accounts_service
from jinli.accounts.domain import Role
from jinli.accounts.errors import EmailTaken, LastOwner
from jinli.accounts.models import ApiKey, AuditEntry, Brand, ConsoleSession, Operator
from jinli.campaigns import service as campaigns_service
from jinli.campaigns.domain import CampaignStatus
from jinli.campaigns.models import Campaign, Channel
from jinli.campaigns.schemas import ChannelCreate
from jinli.ledger.models import LedgerBook, LedgerEntry
from jinli.platform.db.base import BrandOwned
from jinli.platform.db.tenancy import TenancyViolation
from jinli.platform.runtime import Runtime
from tests.conftest import BACKENDS
from tests.factories import (
    PASSWORD,
    BrandFixture,
    create_api_key,
    create_brand,
    create_campaign,
    create_operator,
)

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

BRAND_MODELS: list[type[Any]] = [
    Campaign,
    Channel,
    Operator,
    ApiKey,
    AuditEntry,
    ConsoleSession,
    LedgerBook,
    LedgerEntry,
]


@dataclass
class World:
    a: BrandFixture
    b: BrandFixture
    a_campaign: uuid.UUID
    b_campaign: uuid.UUID


async def _world(runtime: Runtime) -> World:
    """Two brands, each with campaigns (funded, with a channel), operators, keys, a session."""
    brands = []
    campaigns = []
    for name in ("A", "B"):
        brand = await create_brand(runtime, name)
        first = await create_campaign(runtime, brand, funding_fen=500)
        await create_campaign(runtime, brand, name=f"{name} second")
        async with runtime.uow(brand_id=brand.brand_id) as uow:
            await campaigns_service.add_channel(
                uow, brand.actor(), first, ChannelCreate(kind="community", code="grp", name="G")
            )
            owner = await accounts_service.operator_by_email(uow, brand.owner_email)
            assert owner is not None
            await accounts_service.start_session(uow, owner, ip="192.0.2.1", user_agent="test")
            await uow.commit()
        await create_operator(runtime, brand, Role.finance)
        await create_api_key(runtime, brand, Role.developer)
        brands.append(brand)
        campaigns.append(first)
    return World(brands[0], brands[1], campaigns[0], campaigns[1])


async def _brands_of(runtime: Runtime, model: type[Any]) -> dict[uuid.UUID, int]:
    """Rows per brand of one table, counted across brands (system scope)."""
    async with runtime.uow(system=True) as uow:
        rows = await uow.session.execute(
            select(model.brand_id, func.count()).group_by(model.brand_id)
        )
        return {brand_id: int(n) for brand_id, n in rows.all()}


@pytest.mark.parametrize("model", BRAND_MODELS, ids=lambda m: m.__tablename__)
async def test_a_brand_scoped_session_sees_only_its_own_rows(
    runtime: Runtime, model: type[Any]
) -> None:
    """``select(Model)`` with no WHERE returns exactly the acting brand's rows."""
    world = await _world(runtime)
    per_brand = await _brands_of(runtime, model)
    assert per_brand.get(world.a.brand_id), "brand A needs rows of this table"
    assert per_brand.get(world.b.brand_id), "brand B needs rows of this table"
    async with runtime.uow(brand_id=world.a.brand_id) as uow:
        rows = list(await uow.session.scalars(select(model)))
        assert {row.brand_id for row in rows} == {world.a.brand_id}
        assert len(rows) == per_brand[world.a.brand_id]


def _per_status_total() -> Select[Any]:
    per_status = (
        select(Campaign.status, func.count().label("n")).group_by(Campaign.status).subquery()
    )
    return select(func.sum(per_status.c.n))


Statement = Callable[[World], Select[Any]]
SHAPES: dict[str, tuple[Statement, Callable[[World], Any]]] = {
    "count(*) over a subquery (paging totals)": (
        lambda w: select(func.count()).select_from(select(Campaign).subquery()),
        lambda w: 2,
    ),
    "count(*) with select_from(Model)": (
        lambda w: select(func.count()).select_from(Campaign),
        lambda w: 2,
    ),
    "count of a column": (lambda w: select(func.count(Campaign.id)), lambda w: 2),
    "EXISTS on another brand's id": (
        lambda w: select(exists().where(Campaign.id == w.b_campaign)),
        lambda w: False,
    ),
    "IN (subquery)": (
        lambda w: (
            select(func.count())
            .select_from(Channel)
            .where(Channel.campaign_id.in_(select(Campaign.id)))
        ),
        lambda w: 1,
    ),
    "UNION ALL": (
        lambda w: select(func.count()).select_from(
            select(Campaign.id).union_all(select(Campaign.id)).subquery()
        ),
        lambda w: 4,
    ),
    "aliased entity": (
        lambda w: select(func.count()).select_from(aliased(Campaign)),
        lambda w: 2,
    ),
    "join of two brand tables": (
        lambda w: (
            select(func.count())
            .select_from(Channel)
            .join(Campaign, Campaign.id == Channel.campaign_id)
        ),
        lambda w: 1,
    ),
    "GROUP BY over a column": (lambda w: _per_status_total(), lambda w: 2),
    "scalar subquery in the SELECT list": (
        lambda w: select(select(func.count(Operator.id)).scalar_subquery()),
        lambda w: 2,
    ),
    "another brand's id by primary key": (
        lambda w: select(func.count()).select_from(Campaign).where(Campaign.id == w.b_campaign),
        lambda w: 0,
    ),
}
"""Statement shapes where the brand table is not (only) a top-level result entity, with what
brand A must see: 2 campaigns, 1 channel, 2 operators of its own."""


@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
async def test_the_brand_filter_reaches_every_place_a_table_can_appear(
    runtime: Runtime, shape: str
) -> None:
    """Subqueries, EXISTS, IN, UNION, aliases, joins and counts are brand-scoped too."""
    world = await _world(runtime)
    build, expected = SHAPES[shape]
    async with runtime.uow(brand_id=world.a.brand_id) as uow:
        scoped = await uow.session.scalar(build(world))
    async with runtime.uow(system=True) as uow:
        everything = await uow.session.scalar(build(world))
    assert scoped == expected(world)
    # The system scope sees more through the same statement: the guard makes the difference.
    assert everything != scoped, "the statement must see brand B's rows without the guard"


async def test_another_brands_row_cannot_be_got_by_primary_key(runtime: Runtime) -> None:
    """``session.get`` of brand B's id in brand A's scope finds nothing."""
    world = await _world(runtime)
    async with runtime.uow(brand_id=world.a.brand_id) as uow:
        assert await uow.session.get(Campaign, world.b_campaign) is None
        assert await uow.session.get(Campaign, world.a_campaign) is not None
        assert await campaigns_service.list_channels(uow, world.a.actor(), world.a_campaign)


async def test_bulk_update_and_delete_touch_only_the_acting_brand(runtime: Runtime) -> None:
    """ORM UPDATE/DELETE statements get the brand filter: brand B's rows survive."""
    world = await _world(runtime)
    async with runtime.uow(brand_id=world.a.brand_id) as uow:
        renamed = await uow.session.execute(
            update(Campaign).where(Campaign.id == world.b_campaign).values(name="hijacked")
        )
        removed = await uow.session.execute(delete(ConsoleSession))
        assert renamed.rowcount == 0  # type: ignore[attr-defined]
        assert removed.rowcount == 1  # type: ignore[attr-defined]  # brand A's own session
        await uow.commit()
    async with runtime.uow(brand_id=world.b.brand_id) as uow:
        campaign = await uow.session.get(Campaign, world.b_campaign)
        assert campaign is not None
        assert campaign.name != "hijacked"
        assert len(list(await uow.session.scalars(select(ConsoleSession)))) == 1


UNSCOPED: dict[str, Callable[[AsyncSession, World], Any]] = {
    "select": lambda s, w: s.execute(select(Campaign)),
    "get by primary key": lambda s, w: s.get(Campaign, w.a_campaign),
    "count over a subquery": lambda s, w: s.execute(
        select(func.count()).select_from(select(Operator).subquery())
    ),
    "count with select_from": lambda s, w: s.execute(select(func.count()).select_from(ApiKey)),
    "EXISTS": lambda s, w: s.execute(select(exists().where(Operator.email == "x@example.com"))),
    "UPDATE": lambda s, w: s.execute(update(Campaign).values(name="everyone")),
    "DELETE": lambda s, w: s.execute(delete(ConsoleSession)),
}


@pytest.mark.parametrize("operation", UNSCOPED, ids=list(UNSCOPED))
async def test_a_statement_without_any_brand_scope_is_refused(
    runtime: Runtime, operation: str
) -> None:
    """A unit of work with neither a brand nor the system flag cannot touch brand rows."""
    world = await _world(runtime)
    async with runtime.uow() as uow:
        with pytest.raises(TenancyViolation):
            await UNSCOPED[operation](uow.session, world)


async def test_tables_that_belong_to_no_brand_need_no_scope(runtime: Runtime) -> None:
    """Brands themselves are not brand-owned: listing them needs no scope (positive control)."""
    world = await _world(runtime)
    async with runtime.uow() as uow:
        ids = set(await uow.session.scalars(select(Brand.id)))
    assert {world.a.brand_id, world.b.brand_id} <= ids


async def test_a_core_table_query_is_refused_even_in_a_brand_scope(runtime: Runtime) -> None:
    """``Model.__table__`` escapes the ORM criteria, so the guard refuses it outright."""
    world = await _world(runtime)
    table = Campaign.__table__
    async with runtime.uow(brand_id=world.a.brand_id) as uow:
        with pytest.raises(TenancyViolation):
            await uow.session.execute(select(table))
        with pytest.raises(TenancyViolation):
            await uow.session.execute(select(func.count()).select_from(table))


def _foreign_campaign(runtime: Runtime, brand_id: uuid.UUID) -> Campaign:
    now = runtime.clock.now()
    return Campaign(
        brand_id=brand_id,
        name="Planted",
        description="",
        status=CampaignStatus.draft,
        budget_cap_fen=0,
        starts_at=now,
        ends_at=now + timedelta(days=1),
        reward_rule={"kind": "none"},
        kpi={},
        created_at=now,
        updated_at=now,
    )


async def test_flushing_a_new_row_of_another_brand_is_refused(runtime: Runtime) -> None:
    """Adding a campaign or an operator stamped with brand B, in brand A's scope, raises."""
    world = await _world(runtime)
    async with runtime.uow(brand_id=world.a.brand_id) as uow:
        uow.session.add(_foreign_campaign(runtime, world.b.brand_id))
        with pytest.raises(TenancyViolation):
            await uow.session.flush()
    async with runtime.uow(brand_id=world.a.brand_id) as uow:
        uow.session.add(
            Operator(
                brand_id=world.b.brand_id,
                email=f"mole-{uuid.uuid4().hex[:6]}@example.com",
                name="Mole",
                role=Role.owner,
                password_hash="x",
                created_at=runtime.clock.now(),
            )
        )
        with pytest.raises(TenancyViolation):
            await uow.session.flush()
    async with runtime.uow(brand_id=world.a.brand_id) as uow:
        uow.session.add(_foreign_campaign(runtime, world.a.brand_id))
        await uow.session.flush()  # positive control: brand A's own row is fine


async def test_moving_a_row_to_another_brand_is_refused(runtime: Runtime) -> None:
    """Re-stamping a loaded row with brand B's id cannot be flushed, and nothing moves."""
    world = await _world(runtime)
    async with runtime.uow(brand_id=world.a.brand_id) as uow:
        campaign = await uow.session.get(Campaign, world.a_campaign)
        assert campaign is not None
        campaign.brand_id = world.b.brand_id
        with pytest.raises(TenancyViolation):
            await uow.session.flush()
    assert (await _brands_of(runtime, Campaign))[world.a.brand_id] == 2


async def test_flushing_a_brand_row_without_any_scope_is_refused(runtime: Runtime) -> None:
    """With no scope at all, even a correctly stamped row cannot be written."""
    world = await _world(runtime)
    async with runtime.uow() as uow:
        uow.session.add(_foreign_campaign(runtime, world.a.brand_id))
        with pytest.raises(TenancyViolation):
            await uow.session.flush()


async def test_the_system_scope_sees_every_brand(runtime: Runtime) -> None:
    """Cross-brand work (worker, CLI) must opt in, and then sees everything."""
    world = await _world(runtime)
    async with runtime.uow(system=True) as uow:
        owners = {o.brand_id for o in await uow.session.scalars(select(Operator))}
    assert owners == {world.a.brand_id, world.b.brand_id}
    assert issubclass(Campaign, BrandOwned)


# --- rules that only hold if the scope is right ----------------------------------------------


async def test_an_email_taken_in_another_brand_is_refused_cleanly(runtime: Runtime) -> None:
    """An e-mail brand B uses is EmailTaken for brand A, not a unique-index crash."""
    world = await _world(runtime)
    async with runtime.uow(brand_id=world.a.brand_id) as uow:
        with pytest.raises(EmailTaken):
            await accounts_service.create_operator(
                uow,
                world.a.actor(),
                email=world.b.owner_email.upper(),
                name="Copy",
                role=Role.operator,
                password=PASSWORD,
            )


async def test_the_last_owner_of_a_brand_cannot_be_deactivated_whatever_other_brands_have(
    runtime: Runtime,
) -> None:
    """ "At least one active owner" counts the brand's own owners, not every brand's."""
    world = await _world(runtime)
    async with runtime.uow(brand_id=world.a.brand_id) as uow:
        owner = await accounts_service.operator_by_email(uow, world.a.owner_email)
        assert owner is not None
        with pytest.raises(LastOwner):
            await accounts_service.set_operator_active(uow, world.a.actor(), owner.id, active=False)


async def test_brand_a_cannot_reach_brand_b_objects_through_the_services(
    runtime: Runtime,
) -> None:
    """The services, given brand A's actor and unit of work, answer "not found" for B's ids."""
    from jinli.accounts.errors import ApiKeyNotFound, OperatorNotFound
    from jinli.campaigns.errors import CampaignNotFound

    world = await _world(runtime)
    async with runtime.uow(brand_id=world.b.brand_id) as uow:
        b_owner = await accounts_service.operator_by_email(uow, world.b.owner_email)
        assert b_owner is not None
        b_owner_id = b_owner.id
        b_keys = await accounts_service.list_api_keys(uow, world.b.actor(), _page())
        b_key_id = b_keys.items[0].id
    async with runtime.uow(brand_id=world.a.brand_id) as uow:
        actor = world.a.actor()
        with pytest.raises(CampaignNotFound):
            await campaigns_service.get(uow, actor, world.b_campaign)
        with pytest.raises(CampaignNotFound):
            await campaigns_service.fund(uow, actor, world.b_campaign, 100)
        with pytest.raises(OperatorNotFound):
            await accounts_service.get_operator(uow, actor, b_owner_id)
        with pytest.raises(ApiKeyNotFound):
            await accounts_service.revoke_api_key(uow, actor, b_key_id)
        listed = await campaigns_service.list_(uow, actor, _page())
        assert listed.total == len(listed.items) == 2


def _page() -> Any:
    from jinli.kernel.pagination import PageRequest

    return PageRequest(limit=50)
