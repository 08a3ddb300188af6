"""Code batches on real databases: generation writes hashes only and the printer's zip,
activation binds a region and distributor, verify answers the scan's first question."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from jinli.accounts.domain import Role
from jinli.accounts.errors import PermissionDenied
from jinli.campaigns import service as campaigns_service
from jinli.campaigns.domain import Action
from jinli.campaigns.errors import CampaignNotFound
from jinli.codes import domain, service
from jinli.codes.domain import BatchStatus, CodeForm
from jinli.codes.errors import (
    CodeBatchCampaignClosed,
    CodeBatchIllegalTransition,
    CodeBatchNotFound,
    CodeBatchTooLarge,
    CodeExportPurged,
    CodeMalformed,
    CodeNotFound,
    CodeNotGenuine,
)
from jinli.codes.models import Code, CodeBatch
from jinli.codes.schemas import BatchActivate, BatchCreate
from jinli.platform.runtime import Runtime
from tests.conftest import BACKENDS
from tests.factories import BrandFixture, create_brand, create_campaign

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


async def _generate(
    runtime: Runtime,
    brand: BrandFixture,
    campaign_id: object,
    count: int,
    **options: object,
) -> CodeBatch:
    env = service.env_for(runtime)
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        batch = await service.generate(
            uow,
            brand.actor(),
            env,
            campaign_id,  # type: ignore[arg-type]
            BatchCreate(count=count, **options),  # type: ignore[arg-type]
            max_count=env.settings.sync_max_count,
        )
        await uow.commit()
    return batch


def _export_rows(runtime: Runtime, batch: CodeBatch) -> tuple[list[dict[str, str]], list[str]]:
    env = service.env_for(runtime)
    assert batch.export_name is not None
    with zipfile.ZipFile(env.exports_dir / batch.export_name) as archive:
        names = archive.namelist()
        rows: list[dict[str, str]] = []
        for name in sorted(n for n in names if n.endswith(".csv")):
            rows.extend(csv.DictReader(io.StringIO(archive.read(name).decode("ascii"))))
    return rows, names


class TestGenerate:
    async def test_batch_has_every_code_hashed_and_exported_and_none_in_plaintext(
        self, runtime: Runtime
    ) -> None:
        """Every code of the export verifies to its own row; the database holds no code text."""
        brand = await create_brand(runtime)
        campaign = await create_campaign(runtime, brand)
        batch = await _generate(runtime, brand, campaign, 250, short_codes=True)
        rows, names = _export_rows(runtime, batch)
        assert batch.status == BatchStatus.generated
        assert "README.txt" in names
        assert any(n.startswith("qr/sheet-") for n in names)
        assert [int(r["serial"]) for r in rows] == list(range(1, 251))
        assert len({r["code"] for r in rows}) == 250
        base = runtime.settings.public_base_url
        assert all(r["url"] == f"{base}/s/{r['code']}" for r in rows)
        env = service.env_for(runtime)
        async with runtime.uow(system=True) as uow:
            stored = list(await uow.session.scalars(select(Code)))
            assert len(stored) == 250
            texts = {r["code"] for r in rows} | {r["short_code"].replace("-", "") for r in rows}
            dumped = repr([(c.code_hash, c.short_hash) for c in stored])
            assert not any(t in dumped for t in texts)
            for row in rows[:20]:
                found = await service.verify(uow, env, row["code"])
                by_short = await service.verify(uow, env, row["short_code"].lower())
                assert found.serial == by_short.serial == int(row["serial"])
                assert found.batch_id == batch.id
                assert found.form == CodeForm.long
                assert by_short.form == CodeForm.short
                assert not found.payable  # generated, not shipped

    async def test_big_batch_is_split_into_chunks_and_csv_files(self, runtime: Runtime) -> None:
        """Generation works chunk by chunk; CSV files hold codes_per_file codes each."""
        settings = runtime.settings.codes
        runtime.settings.codes = settings.model_copy(
            update={"chunk_size": 700, "codes_per_file": 1000, "qr_sheet_max_codes": 0}
        )
        brand = await create_brand(runtime)
        campaign = await create_campaign(runtime, brand)
        env = service.env_for(runtime)
        done: list[int] = []
        async with runtime.uow(brand_id=brand.brand_id) as uow:
            batch = await service.generate(
                uow,
                brand.actor(),
                env,
                campaign,
                BatchCreate(count=2500),
                max_count=10_000,
                progress=done.append,
            )
            await uow.commit()
        assert done == [700, 700, 700, 400]
        rows, names = _export_rows(runtime, batch)
        assert sorted(n for n in names if n.endswith(".csv")) == [
            "codes-00001.csv",
            "codes-00002.csv",
            "codes-00003.csv",
        ]
        assert not any(n.startswith("qr/") for n in names)
        assert [int(r["serial"]) for r in rows] == list(range(1, 2501))

    async def test_colliding_random_parts_are_replaced_not_fatal(self, runtime: Runtime) -> None:
        """A code hash that is already taken is skipped and a fresh code takes its serial."""
        brand = await create_brand(runtime)
        campaign = await create_campaign(runtime, brand)
        env = service.env_for(runtime)

        def source() -> Callable[[int], bytes]:
            import secrets

            state = {"first": True}

            def draw(n: int) -> bytes:
                if state["first"]:
                    state["first"] = False
                    return b"\x07" * n
                return secrets.token_bytes(n)

            return draw

        batches = []
        for _ in range(2):
            async with runtime.uow(brand_id=brand.brand_id) as uow:
                batch = await service.generate(
                    uow,
                    brand.actor(),
                    env,
                    campaign,
                    BatchCreate(count=5),
                    max_count=100,
                    randbytes=source(),
                )
                await uow.commit()
            batches.append(batch)
        # Within a batch the 5 identical codes collapse to 1, then 4 fresh ones fill in; the
        # second batch's identical first draw collides with the first batch's row.
        for batch in batches:
            rows, _ = _export_rows(runtime, batch)
            assert sorted(int(r["serial"]) for r in rows) == [1, 2, 3, 4, 5]
            assert len({r["code"] for r in rows}) == 5
        async with runtime.uow(system=True) as uow:
            total = await uow.session.scalar(select(func.count()).select_from(Code))
        assert total == 10

    async def test_limits_campaign_and_permissions(self, runtime: Runtime) -> None:
        brand = await create_brand(runtime)
        other = await create_brand(runtime, "Other")
        campaign = await create_campaign(runtime, brand, reward_rule={"kind": "none"})
        env = service.env_for(runtime)
        async with runtime.uow(brand_id=brand.brand_id) as uow:
            with pytest.raises(CodeBatchTooLarge):
                await service.generate(
                    uow, brand.actor(), env, campaign, BatchCreate(count=11), max_count=10
                )
            with pytest.raises(CodeBatchTooLarge):
                await service.generate(
                    uow,
                    brand.actor(),
                    env,
                    campaign,
                    BatchCreate(count=5000, qr_sheets=True),
                    max_count=10_000,
                )
            with pytest.raises(PermissionDenied):
                await service.generate(
                    uow,
                    brand.actor(Role.finance),
                    env,
                    campaign,
                    BatchCreate(count=1),
                    max_count=10,
                )
        async with runtime.uow(brand_id=other.brand_id) as uow:
            with pytest.raises(CampaignNotFound):
                await service.generate(
                    uow, other.actor(), env, campaign, BatchCreate(count=1), max_count=10
                )
        async with runtime.uow(brand_id=brand.brand_id) as uow:
            await campaigns_service.transition(uow, brand.actor(), campaign, Action.publish)
            await campaigns_service.transition(uow, brand.actor(), campaign, Action.end)
            await uow.commit()
        async with runtime.uow(brand_id=brand.brand_id) as uow:
            with pytest.raises(CodeBatchCampaignClosed):
                await service.generate(
                    uow, brand.actor(), env, campaign, BatchCreate(count=1), max_count=10
                )
        assert list((env.exports_dir / str(brand.brand_id)).glob("*")) == []


class TestLifecycle:
    async def test_activate_void_purge_and_their_audit(self, runtime: Runtime) -> None:
        brand = await create_brand(runtime)
        campaign = await create_campaign(runtime, brand)
        batch = await _generate(runtime, brand, campaign, 10)
        rows, _ = _export_rows(runtime, batch)
        env = service.env_for(runtime)
        ship = BatchActivate(region="浙江省杭州市", distributor="杭州华东经销")
        async with runtime.uow(brand_id=brand.brand_id) as uow:
            with pytest.raises(PermissionDenied):
                await service.activate(uow, brand.actor(Role.finance), batch.id, ship)
            done = await service.activate(uow, brand.actor(), batch.id, ship)
            assert done.status == BatchStatus.active
            assert done.region == "浙江省杭州市"
            await uow.commit()
        async with runtime.uow(brand_id=brand.brand_id) as uow:
            with pytest.raises(CodeBatchIllegalTransition):
                await service.activate(uow, brand.actor(), batch.id, ship)
            lookup = await service.verify(uow, env, rows[3]["code"])
            assert lookup.payable
            assert lookup.region == "浙江省杭州市"
            export = await service.export_file(uow, brand.actor(), env, batch.id)
            assert export.path.is_file()
            assert export.sha256 == batch.export_sha256
            await service.purge_export(uow, brand.actor(), env, batch.id)
            await uow.commit()
        assert not export.path.exists()
        async with runtime.uow(brand_id=brand.brand_id) as uow:
            with pytest.raises(CodeExportPurged):
                await service.export_file(uow, brand.actor(), env, batch.id)
            with pytest.raises(CodeExportPurged):
                await service.purge_export(uow, brand.actor(), env, batch.id)
            await service.void(uow, brand.actor(), batch.id)
            await uow.commit()
        async with runtime.uow(brand_id=brand.brand_id) as uow:
            lookup = await service.verify(uow, env, rows[3]["code"])
            assert lookup.batch_status == BatchStatus.voided
            assert not lookup.payable
            with pytest.raises(CodeBatchIllegalTransition):
                await service.void(uow, brand.actor(), batch.id)
            from jinli.accounts import service as accounts_service
            from jinli.kernel.pagination import PageRequest

            audit = await accounts_service.list_audit(uow, brand.actor(), PageRequest(limit=50))
            actions = {entry.action for entry in audit.items}
        assert {
            "code_batch.generated",
            "code_batch.activated",
            "code_batch.export_downloaded",
            "code_batch.export_purged",
            "code_batch.voided",
        } <= actions

    async def test_other_brands_batches_are_invisible(self, runtime: Runtime) -> None:
        brand = await create_brand(runtime)
        other = await create_brand(runtime, "Other")
        batch = await _generate(runtime, brand, await create_campaign(runtime, brand), 3)
        env = service.env_for(runtime)
        async with runtime.uow(brand_id=other.brand_id) as uow:
            for call in (
                service.get(uow, other.actor(), batch.id),
                service.void(uow, other.actor(), batch.id),
                service.export_file(uow, other.actor(), env, batch.id),
            ):
                with pytest.raises(CodeBatchNotFound):
                    await call
            from jinli.kernel.pagination import PageRequest

            assert (await service.list_(uow, other.actor(), PageRequest())).total == 0


class TestVerify:
    async def test_forged_and_malformed_codes_cost_no_query(self, runtime: Runtime) -> None:
        """The tag rejects a forged or mistyped code before any SQL is sent."""
        brand = await create_brand(runtime)
        batch = await _generate(runtime, brand, await create_campaign(runtime, brand), 5)
        rows, _ = _export_rows(runtime, batch)
        env = service.env_for(runtime)
        statements: list[str] = []

        def count(*args: object) -> None:
            statements.append(str(args[2]))

        genuine = rows[0]["code"]
        flipped = genuine[:5] + ("0" if genuine[5] != "0" else "1") + genuine[6:]
        forged = domain.generate_codes(
            1, domain.CodeKeys(b"k" * 32, b"l" * 32), lambda n: b"\1" * n
        )[0]
        async with runtime.uow(brand_id=None) as uow:
            await uow.session.connection()  # connect first: only the code's own queries count
            event.listen(runtime.engine.sync_engine, "before_cursor_execute", count)
            try:
                for text, error in [
                    (flipped, CodeNotGenuine),
                    (forged, CodeNotGenuine),
                    ("HELLO", CodeMalformed),
                    ("U" * 24, CodeMalformed),
                    ("A" * 10_000, CodeMalformed),
                ]:
                    with pytest.raises(error):
                        await service.verify(uow, env, text)
                assert statements == []
                lookup = await service.verify(uow, env, genuine.lower())
                assert lookup.serial == 1
                assert statements, "a genuine code is looked up"
            finally:
                event.remove(runtime.engine.sync_engine, "before_cursor_execute", count)

    async def test_genuine_tag_without_a_row_is_not_found(self, runtime: Runtime) -> None:
        """A code minted with the right key that never committed (or was deleted) is unknown."""
        env = service.env_for(runtime)
        import secrets

        minted = domain.generate_codes(1, env.keys, secrets.token_bytes)[0]
        async with runtime.uow() as uow:
            with pytest.raises(CodeNotFound):
                await service.verify(uow, env, minted)


def test_keys_are_generated_once_into_the_data_dir(tmp_path: Path, backend: str) -> None:
    from jinli.platform.settings import CodesSettings

    first = service.load_keys(CodesSettings(), tmp_path)
    again = service.load_keys(CodesSettings(), tmp_path)
    assert first.tag_key == again.tag_key
    assert first.lookup_key == again.lookup_key
    keys_file = tmp_path / "codes" / "keys.json"
    assert keys_file.stat().st_mode & 0o077 == 0
    configured = service.load_keys(
        CodesSettings(tag_key="t" * 40, lookup_key="l" * 40),
        tmp_path,  # type: ignore[arg-type]
    )
    assert configured.tag_key != first.tag_key
