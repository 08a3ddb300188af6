"""Roles, permissions and the acting principal; pure rules, no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from jinli.accounts.errors import PermissionDenied, WeakPassword

MIN_PASSWORD_LENGTH = 10


class Role(StrEnum):
    owner = "owner"
    """Everything, including operators and API keys; the brand's first account."""
    operator = "operator"
    """Marketing operator (运营): builds, publishes and watches campaigns."""
    finance = "finance"
    """Finance (财务): budgets, funding, reconciliation, exports; reads campaigns."""
    developer = "developer"
    """Developer (开发者): API keys and integrations; reads campaigns."""


class Permission(StrEnum):
    dashboard_read = "dashboard:read"
    campaigns_read = "campaigns:read"
    campaigns_write = "campaigns:write"
    campaigns_publish = "campaigns:publish"
    budget_fund = "budget:fund"
    ledger_read = "ledger:read"
    exports = "exports"
    operators_manage = "operators:manage"
    api_keys_manage = "api_keys:manage"
    audit_read = "audit:read"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.owner: frozenset(Permission),
    Role.operator: frozenset(
        {
            Permission.dashboard_read,
            Permission.campaigns_read,
            Permission.campaigns_write,
            Permission.campaigns_publish,
            Permission.ledger_read,
        }
    ),
    Role.finance: frozenset(
        {
            Permission.dashboard_read,
            Permission.campaigns_read,
            Permission.budget_fund,
            Permission.ledger_read,
            Permission.exports,
            Permission.audit_read,
        }
    ),
    Role.developer: frozenset(
        {Permission.dashboard_read, Permission.campaigns_read, Permission.api_keys_manage}
    ),
}


class ActorKind(StrEnum):
    operator = "operator"
    api_key = "api_key"
    system = "system"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: an operator in the console, an API key, or the system (worker, CLI)."""

    brand_id: uuid.UUID
    kind: ActorKind
    id: uuid.UUID | None
    name: str
    role: Role
    ip: str | None = None

    @property
    def permissions(self) -> frozenset[Permission]:
        return ROLE_PERMISSIONS[self.role]

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise PermissionDenied(f"role {self.role} may not {permission}")


def grantable_roles(granter: Role) -> list[Role]:
    """Roles a principal may give to a new operator or API key: never more than it holds."""
    mine = ROLE_PERMISSIONS[granter]
    return [role for role, perms in ROLE_PERMISSIONS.items() if perms <= mine]


def check_password_strength(password: str, *, email: str = "") -> None:
    """ASVS 6.2: at least 10 characters, not the account name, not all one character class."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 256:
        raise WeakPassword("the password is longer than 256 characters")
    account = email.split("@")[0].lower()
    # A name of 1–3 letters ("o@x.cn") is part of too many good passwords to be a useful ban.
    if len(account) >= 4 and account in password.lower():
        raise WeakPassword("the password must not contain the account name")
    if len(set(password)) < 4:
        raise WeakPassword("the password is too repetitive")


def backoff_seconds(failures: int, *, free: int, base: int, cap: int) -> int:
    """Lock-out after the ``free``-th failure, doubling each time: base, 2·base, 4·base … cap."""
    if failures < free:
        return 0
    return int(min(cap, base * 2 ** (failures - free)))


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """Login brute-force back-off (ASVS 6.3.1): free attempts, then doubling lock-outs."""

    free_attempts: int = 5
    base_delay_seconds: int = 2
    max_delay_seconds: int = 900
    window_seconds: int = 3600
    ip_multiplier: int = 4
    """An IP gets this many times the account's free attempts (offices share an IP)."""


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle_timeout_seconds: int = 1800
    absolute_timeout_seconds: int = 43200
