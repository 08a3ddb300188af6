"""Assemble the HTTP application: REST API at /api/v1, the console, static assets, health."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from starlette.types import ASGIApp, Receive, Scope, Send

from jinli.api.app import create_api
from jinli.api.middleware import (
    BodyLimitMiddleware,
    SecurityHeadersMiddleware,
    security_headers,
)
from jinli.app.wechat import SIMULATOR_MOUNT, simulator_base_url, simulator_dir, wechatpay
from jinli.payouts.api import notify_router
from jinli.platform.runtime import Runtime
from jinli.web import assets
from jinli.web.console.app import console_router, install_console_errors
from jinli.web.h5.lane import ClaimLane
from jinli.web.h5.views import router as h5_router

STATIC_DIR = Path(assets.__file__).parent / "static"


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(title="Jinli", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = runtime
    app.mount("/api/v1", create_api(runtime))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(console_router())
    app.include_router(h5_router)  # /s/{code}, /h5/…: the consumer's scan pages
    app.include_router(notify_router)
    app.state.payout_notifications = lambda: wechatpay(runtime).notifications
    if runtime.settings.wechatpay.mode == "simulator":
        app.mount(SIMULATOR_MOUNT, LazySimulator(runtime))
    install_console_errors(app)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console", status_code=302)

    @app.get("/healthz", include_in_schema=False)
    async def health() -> JSONResponse:
        async with runtime.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok", "database": runtime.dialect})

    settings = runtime.settings
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.session.cookie_secure)
    app.add_middleware(
        BodyLimitMiddleware,
        limit=settings.max_body_bytes,
        larger=dict.fromkeys(UPLOAD_PATHS, settings.max_upload_bytes),
    )
    # Outermost: the consumer's one tap, answered before the framework when it can be.
    hsts = settings.session.cookie_secure
    app.add_middleware(ClaimLane, runtime=runtime, headers=security_headers(hsts=hsts))
    return app


UPLOAD_PATHS = ("/console/reconciliation/upload",)
"""The routes that take files, with ``max_upload_bytes`` instead of ``max_body_bytes``."""


class LazySimulator:
    """The offline WeChat, mounted at /wechat-sim; built on its first request because
    generating its keys takes a moment and most processes never need it."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            from jinli.integrations.simulator.app import create_simulator_app
            from jinli.integrations.simulator.simulator import Simulator

            settings = self.runtime.settings
            sim = Simulator.from_directory(
                simulator_dir(settings), base_url=simulator_base_url(settings)
            )
            self.runtime.extras["simulator"] = sim
            self._app = create_simulator_app(sim)
        await self._app(scope, receive, send)
