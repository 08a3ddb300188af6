"""The demo's sample page (``/demo``): scan links and QR codes of the demo batch, for a person
to try the consumer's journey. Mounted only by ``jinli demo`` (never by ``jinli serve``): it
shows plaintext codes, which are worth money.

Jinli keeps no plaintext of a code: the only copy is the printer's export zip in the data
directory, so the samples (and ``jinli demo traffic``) are read back from there, as a printer
would. Serials 1–20 are the page's samples; the traffic player leaves them alone.
"""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import segno
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from jinli.accounts import service as accounts_service
from jinli.codes import service as codes_service
from jinli.codes.domain import BatchStatus
from jinli.integrations.simulator.config import SimulatorConfig
from jinli.kernel.pagination import PageRequest
from jinli.platform.http import get_runtime
from jinli.platform.runtime import Runtime

DEMO_EMAIL = "demo@jinli.local"
DEMO_BRAND = "锦鲤演示品牌 Demo Brand"
DEMO_BATCH_LABEL = "演示批次 · 杭州 (demo)"
"""The label by which the demo finds its printed batch again (page and traffic player)."""
SAMPLE_COUNT = 20
"""Serials 1..SAMPLE_COUNT are shown on the page and never played by the traffic command."""

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class DemoBatch:
    """Where the demo's printed batch is: its ids, its shipping region and its export zip."""

    brand_id: uuid.UUID
    campaign_id: uuid.UUID
    batch_id: uuid.UUID
    region: str
    size: int
    export: Path


async def locate(runtime: Runtime) -> DemoBatch | None:
    """The demo brand's active demo batch, if ``jinli demo`` seeded one and its export (the
    only plaintext of the codes) is still on disk."""
    async with runtime.uow(system=True) as uow:
        owner = await accounts_service.operator_by_email(uow, DEMO_EMAIL)
        if owner is None:
            return None
        uow.scope_to(owner.brand_id)
        actor = accounts_service.system_actor(owner.brand_id, "demo")
        page = await codes_service.list_(
            uow, actor, PageRequest(limit=100), status=BatchStatus.active
        )
        env = codes_service.env_for(runtime)
        for batch in page.items:
            path = env.exports_dir / batch.export_name if batch.export_name else None
            if batch.label == DEMO_BATCH_LABEL and path is not None and path.is_file():
                return DemoBatch(
                    brand_id=batch.brand_id,
                    campaign_id=batch.campaign_id,
                    batch_id=batch.id,
                    region=batch.region or "",
                    size=batch.size,
                    export=path,
                )
    return None


def read_codes(export: Path) -> Iterator[tuple[int, str]]:
    """(serial, code) of every code in a printer's export zip, in print order (streamed)."""
    with zipfile.ZipFile(export) as archive:
        names = sorted(n for n in archive.namelist() if n.startswith("codes-"))
        for name in names:
            with archive.open(name) as member:
                for row in csv.DictReader(io.TextIOWrapper(member, encoding="ascii")):
                    yield int(row["serial"]), row["code"]


def samples(export: Path, count: int = SAMPLE_COUNT) -> list[str]:
    """The first ``count`` codes of the batch (the page's samples)."""
    found: list[str] = []
    for serial, code in read_codes(export):
        if serial > count:
            break
        found.append(code)
    return found


@dataclass(frozen=True)
class Sample:
    serial: int
    code: str
    url: str
    qr_svg: str


@router.get("/demo", response_class=HTMLResponse)
async def demo_page(request: Request) -> HTMLResponse:
    """Sample scan links with their QR codes, and where to watch and confirm."""
    runtime = get_runtime(request)
    batch = await locate(runtime)
    base = runtime.settings.public_base_url.rstrip("/")
    shown: list[Sample] = []
    if batch is not None:
        for serial, code in enumerate(samples(batch.export), start=1):
            url = f"{base}/s/{code}"
            svg = segno.make_qr(url, error="m").svg_inline(scale=4, title=f"#{serial}")
            shown.append(Sample(serial, code, url, svg))
    response = templates.TemplateResponse(
        request,
        "demo/index.html",
        {
            "batch": batch,
            "samples": shown,
            "base": base,
            "demo_openid": SimulatorConfig().demo_openid,
        },
        status_code=200 if batch is not None else 404,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
