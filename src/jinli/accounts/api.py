"""REST routes of the accounts capability: the brand, operators, API keys, audit log."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query

from jinli.accounts import service
from jinli.accounts.deps import ApiActor
from jinli.accounts.errors import (
    ApiKeyNotFound,
    EmailTaken,
    InvalidApiKey,
    LastOwner,
    OperatorNotFound,
    PermissionDenied,
    WeakPassword,
)
from jinli.accounts.models import Brand
from jinli.accounts.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    AuditEntryRead,
    BrandRead,
    OperatorCreate,
    OperatorRead,
)
from jinli.kernel.pagination import Page
from jinli.platform.http import Pagination, UoW
from jinli.platform.problems import problems

router = APIRouter(tags=["accounts"], responses=problems(InvalidApiKey, PermissionDenied))


@router.get("/brand", response_model=BrandRead)
async def get_brand(actor: ApiActor, uow: UoW) -> Brand:
    """The brand (tenant) this API key belongs to."""
    return await service.get_brand(uow, actor)


@router.get("/operators", response_model=Page[OperatorRead])
async def list_operators(actor: ApiActor, uow: UoW, page: Pagination) -> object:
    return await service.list_operators(uow, actor, page)


@router.post(
    "/operators",
    status_code=201,
    response_model=OperatorRead,
    responses=problems(EmailTaken, WeakPassword),
)
async def create_operator(data: OperatorCreate, actor: ApiActor, uow: UoW) -> object:
    operator = await service.create_operator(
        uow, actor, email=data.email, name=data.name, role=data.role, password=data.password
    )
    await uow.commit()
    return operator


@router.get(
    "/operators/{operator_id}", response_model=OperatorRead, responses=problems(OperatorNotFound)
)
async def get_operator(operator_id: uuid.UUID, actor: ApiActor, uow: UoW) -> object:
    return await service.get_operator(uow, actor, operator_id)


@router.post(
    "/operators/{operator_id}/deactivate",
    response_model=OperatorRead,
    responses=problems(OperatorNotFound, LastOwner),
)
async def deactivate_operator(operator_id: uuid.UUID, actor: ApiActor, uow: UoW) -> object:
    operator = await service.set_operator_active(uow, actor, operator_id, active=False)
    await uow.commit()
    return operator


@router.get("/api-keys", response_model=Page[ApiKeyRead])
async def list_api_keys(actor: ApiActor, uow: UoW, page: Pagination) -> object:
    return await service.list_api_keys(uow, actor, page)


@router.post("/api-keys", status_code=201, response_model=ApiKeyCreated)
async def create_api_key(data: ApiKeyCreate, actor: ApiActor, uow: UoW) -> ApiKeyCreated:
    """Create a key. The response carries the secret once; store it now."""
    key, secret = await service.create_api_key(uow, actor, name=data.name, role=data.role)
    await uow.commit()
    return ApiKeyCreated.model_validate(
        {**ApiKeyRead.model_validate(key).model_dump(), "secret": secret}
    )


@router.post(
    "/api-keys/{key_id}/revoke", response_model=ApiKeyRead, responses=problems(ApiKeyNotFound)
)
async def revoke_api_key(key_id: uuid.UUID, actor: ApiActor, uow: UoW) -> object:
    key = await service.revoke_api_key(uow, actor, key_id)
    await uow.commit()
    return key


@router.get("/audit-log", response_model=Page[AuditEntryRead])
async def list_audit(
    actor: ApiActor,
    uow: UoW,
    page: Pagination,
    action: str | None = Query(None, max_length=60),
) -> object:
    return await service.list_audit(uow, actor, page, action=action)
