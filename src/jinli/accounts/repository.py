"""Queries of the accounts capability."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, delete, func, select

from jinli.accounts.domain import Role
from jinli.accounts.models import ApiKey, AuditEntry, Brand, ConsoleSession, Operator
from jinli.platform.db.repository import Repository


class BrandRepository(Repository[Brand]):
    model = Brand


class OperatorRepository(Repository[Operator]):
    model = Operator

    async def by_email(self, email: str) -> Operator | None:
        return (await self.session.scalars(self.select().where(Operator.email == email))).first()

    async def email_exists(self, email: str) -> bool:
        """Whether any brand has an operator with this login e-mail.

        E-mails are unique across brands (a login has no brand picker), so this one check looks
        across brands on purpose; it answers only "taken or not", never which brand.
        """
        stmt = select(func.count()).select_from(Operator).where(Operator.email == email)
        with self.uow.unscoped():
            return bool(await self.session.scalar(stmt))

    async def active_owner_count(self) -> int:
        stmt = select(func.count()).select_from(
            self.select().where(Operator.role == Role.owner, Operator.active.is_(True)).subquery()
        )
        return int(await self.session.scalar(stmt) or 0)

    def listing(self) -> Select[Operator]:
        return self.select().order_by(Operator.created_at)


class SessionRepository(Repository[ConsoleSession]):
    model = ConsoleSession

    async def by_digest(self, digest: str) -> ConsoleSession | None:
        stmt = self.select().where(ConsoleSession.id_digest == digest)
        return (await self.session.scalars(stmt)).first()

    async def delete_digest(self, digest: str) -> None:
        await self.session.execute(delete(ConsoleSession).where(ConsoleSession.id_digest == digest))

    async def delete_for_operator(self, operator: Operator) -> None:
        await self.session.execute(
            delete(ConsoleSession).where(ConsoleSession.operator_id == operator.id)
        )

    async def delete_older_than(self, cutoff: datetime) -> None:
        await self.session.execute(
            delete(ConsoleSession).where(ConsoleSession.last_seen_at < cutoff)
        )


class ApiKeyRepository(Repository[ApiKey]):
    model = ApiKey

    async def by_digest(self, digest: str) -> ApiKey | None:
        return (await self.session.scalars(self.select().where(ApiKey.digest == digest))).first()

    def listing(self) -> Select[ApiKey]:
        return self.select().order_by(ApiKey.created_at.desc())


class AuditRepository(Repository[AuditEntry]):
    model = AuditEntry

    def listing(
        self, *, action: str | None = None, object_id: str | None = None
    ) -> Select[AuditEntry]:
        stmt = self.select().order_by(AuditEntry.id.desc())
        if action:
            stmt = stmt.where(AuditEntry.action == action)
        if object_id:
            stmt = stmt.where(AuditEntry.object_id == object_id)
        return stmt
