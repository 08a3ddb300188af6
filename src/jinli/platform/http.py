"""HTTP plumbing shared by the API, console and H5 edges: runtime, unit of work, paging, IP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Query, Request

from jinli.kernel.pagination import MAX_PAGE_SIZE, PageRequest
from jinli.platform.db.uow import UnitOfWork
from jinli.platform.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_uow(runtime: RuntimeDep) -> AsyncIterator[UnitOfWork]:
    """One unit of work per request. The route commits explicitly before it answers; the
    teardown only rolls back and closes (a commit here would run after the response)."""
    async with runtime.uow() as uow:
        yield uow


UoW = Annotated[UnitOfWork, Depends(get_uow)]


def get_page(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip")] = 0,
) -> PageRequest:
    return PageRequest(limit=limit, offset=offset)


Pagination = Annotated[PageRequest, Depends(get_page)]


def client_ip(request: Request) -> str:
    """The peer address. Behind a reverse proxy, run uvicorn with --proxy-headers and
    --forwarded-allow-ips so that this is the real client, not the proxy."""
    return request.client.host if request.client else "unknown"
