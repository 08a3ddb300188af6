"""Use cases of the accounts capability: brands, operators, sessions, API keys, audit."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import structlog

from jinli.accounts import domain
from jinli.accounts.domain import (
    Actor,
    ActorKind,
    Permission,
    Role,
    SessionPolicy,
    ThrottlePolicy,
)
from jinli.accounts.errors import (
    ApiKeyNotFound,
    EmailTaken,
    InvalidApiKey,
    InvalidCredentials,
    LastOwner,
    LoginThrottled,
    OperatorNotFound,
    PermissionDenied,
)
from jinli.accounts.models import ApiKey, AuditEntry, Brand, ConsoleSession, Operator
from jinli.accounts.repository import (
    ApiKeyRepository,
    AuditRepository,
    BrandRepository,
    OperatorRepository,
    SessionRepository,
)
from jinli.kernel.errors import NotFound
from jinli.kernel.events import DomainEvent
from jinli.kernel.pagination import Page, PageRequest
from jinli.platform.counters import CounterStore
from jinli.platform.db.uow import UnitOfWork
from jinli.platform.security import digest, hash_password, new_token, verify_password

log = structlog.get_logger()

API_KEY_PREFIX = "jl_"


def system_actor(brand_id: uuid.UUID, name: str = "system") -> Actor:
    return Actor(brand_id=brand_id, kind=ActorKind.system, id=None, name=name, role=Role.owner)


def operator_actor(operator: Operator, ip: str | None = None) -> Actor:
    return Actor(
        brand_id=operator.brand_id,
        kind=ActorKind.operator,
        id=operator.id,
        name=operator.email,
        role=operator.role,
        ip=ip,
    )


# --- audit -------------------------------------------------------------------------------


def record_audit(
    uow: UnitOfWork,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: object | None = None,
    **detail: Any,
) -> None:
    """Append an audit entry in the caller's transaction: it exists iff the action committed."""
    uow.session.add(
        AuditEntry(
            brand_id=actor.brand_id,
            at=uow.clock.now(),
            actor_kind=actor.kind,
            actor_id=actor.id,
            actor_name=actor.name,
            action=action,
            object_type=object_type,
            object_id=str(object_id) if object_id is not None else None,
            ip=actor.ip,
            detail={
                k: v if isinstance(v, int | str | bool | None) else str(v)
                for k, v in detail.items()
            },
        )
    )


async def list_audit(
    uow: UnitOfWork, actor: Actor, page: PageRequest, *, action: str | None = None
) -> Page[AuditEntry]:
    actor.require(Permission.audit_read)
    repo = AuditRepository(uow)
    return await repo.page(repo.listing(action=action), page)


# --- brands and operators ------------------------------------------------------------------


async def create_brand(
    uow: UnitOfWork, *, name: str, owner_email: str, owner_name: str, owner_password: str
) -> tuple[Brand, Operator]:
    """Create a tenant and its first owner. Runs in a system-scoped unit of work."""
    email = owner_email.strip().lower()
    domain.check_password_strength(owner_password, email=email)
    operators = OperatorRepository(uow)
    if await operators.email_exists(email):
        raise EmailTaken()
    now = uow.clock.now()
    brand = BrandRepository(uow).add(Brand(id=uuid.uuid4(), name=name, created_at=now))
    await uow.session.flush()
    uow.scope_to(brand.id)
    owner = operators.add(
        Operator(
            brand_id=brand.id,
            email=email,
            name=owner_name,
            role=Role.owner,
            password_hash=hash_password(owner_password),
            created_at=now,
        )
    )
    await uow.session.flush()
    record_audit(uow, system_actor(brand.id), "brand.created", "brand", brand.id, name=name)
    uow.emit(DomainEvent("brand.created", str(brand.id), {"name": name}, brand_id=brand.id))
    return brand, owner


async def get_brand(uow: UnitOfWork, actor: Actor) -> Brand:
    brand = await BrandRepository(uow).get(actor.brand_id)
    if brand is None:
        raise NotFound("brand not found")
    return brand


async def create_operator(
    uow: UnitOfWork, actor: Actor, *, email: str, name: str, role: Role, password: str
) -> Operator:
    actor.require(Permission.operators_manage)
    if role not in domain.grantable_roles(actor.role):
        raise PermissionDenied(f"role {actor.role} cannot grant {role}")
    email = email.strip().lower()
    domain.check_password_strength(password, email=email)
    operators = OperatorRepository(uow)
    if await operators.email_exists(email):
        raise EmailTaken()
    operator = operators.add(
        Operator(
            brand_id=actor.brand_id,
            email=email,
            name=name,
            role=role,
            password_hash=hash_password(password),
            created_at=uow.clock.now(),
        )
    )
    await uow.session.flush()
    record_audit(uow, actor, "operator.created", "operator", operator.id, email=email, role=role)
    return operator


async def list_operators(uow: UnitOfWork, actor: Actor, page: PageRequest) -> Page[Operator]:
    actor.require(Permission.operators_manage)
    repo = OperatorRepository(uow)
    return await repo.page(repo.listing(), page)


async def get_operator(uow: UnitOfWork, actor: Actor, operator_id: uuid.UUID) -> Operator:
    actor.require(Permission.operators_manage)
    operator = await OperatorRepository(uow).get(operator_id)
    if operator is None:
        raise OperatorNotFound()
    return operator


async def set_operator_active(
    uow: UnitOfWork, actor: Actor, operator_id: uuid.UUID, *, active: bool
) -> Operator:
    operator = await get_operator(uow, actor, operator_id)
    repo = OperatorRepository(uow)
    last_owner = not active and operator.role == Role.owner and operator.active
    if last_owner and await repo.active_owner_count() <= 1:
        raise LastOwner()
    operator.active = active
    if not active:
        await SessionRepository(uow).delete_for_operator(operator)
    record_audit(
        uow,
        actor,
        "operator.activated" if active else "operator.deactivated",
        "operator",
        operator.id,
    )
    return operator


async def operator_by_email(uow: UnitOfWork, email: str) -> Operator | None:
    """Look an operator up by login e-mail (system-scoped: e-mails are unique across brands)."""
    return await OperatorRepository(uow).by_email(email.strip().lower())


def set_password(uow: UnitOfWork, actor: Actor, operator: Operator, password: str) -> None:
    """Set a new password (strength-checked) and reactivate the account; audited."""
    domain.check_password_strength(password, email=operator.email)
    operator.password_hash = hash_password(password)
    operator.active = True
    record_audit(uow, actor, "operator.password_set", "operator", operator.id)


# --- login and console sessions ------------------------------------------------------------


async def authenticate(
    uow: UnitOfWork,
    counters: CounterStore,
    policy: ThrottlePolicy,
    *,
    email: str,
    password: str,
    ip: str,
) -> Operator:
    """Check a console login with brute-force back-off per account and per IP.

    Runs in a system-scoped unit of work: the brand is not known until the e-mail is found.
    While locked out, the password is not even checked, so guessing during a lock-out is free
    of information.
    """
    email = email.strip().lower()
    acct_key, ip_key = f"login:acct:{email}", f"login:ip:{ip}"
    if await counters.peek(f"lock:{acct_key}") or await counters.peek(f"lock:{ip_key}"):
        raise LoginThrottled()
    operator = await OperatorRepository(uow).by_email(email)
    ok = verify_password(operator.password_hash if operator else None, password)
    if not ok or operator is None or not operator.active:
        await _count_failure(counters, policy, acct_key, policy.free_attempts)
        await _count_failure(counters, policy, ip_key, policy.free_attempts * policy.ip_multiplier)
        if operator is not None:
            uow.scope_to(operator.brand_id)
            actor = operator_actor(operator, ip)
            record_audit(uow, actor, "operator.login_failed", "operator", operator.id)
        log.info("accounts.login.failed", email=email, ip=ip)
        raise InvalidCredentials()
    await counters.reset(f"fail:{acct_key}")
    return operator


async def _count_failure(
    counters: CounterStore, policy: ThrottlePolicy, key: str, free: int
) -> None:
    failures = await counters.hit(f"fail:{key}", policy.window_seconds)
    delay = domain.backoff_seconds(
        failures, free=free, base=policy.base_delay_seconds, cap=policy.max_delay_seconds
    )
    if delay:
        await counters.hit(f"lock:{key}", delay)


async def start_session(
    uow: UnitOfWork,
    operator: Operator,
    *,
    ip: str | None,
    user_agent: str | None,
    previous_token: str | None = None,
) -> str:
    """Open a console session and return the cookie value. A fresh id on every login
    (session fixation, ASVS 7.2.4); the previous session, if any, is destroyed."""
    sessions = SessionRepository(uow)
    if previous_token:
        # The browser's previous session may belong to another brand's operator (one browser,
        # two accounts): destroy it whichever brand it is, before scoping to the new one.
        with uow.unscoped():
            await sessions.delete_digest(digest(previous_token))
    uow.scope_to(operator.brand_id)
    token = new_token()
    now = uow.clock.now()
    sessions.add(
        ConsoleSession(
            id_digest=digest(token),
            brand_id=operator.brand_id,
            operator_id=operator.id,
            csrf_token=new_token(24),
            created_at=now,
            last_seen_at=now,
            ip=ip,
            user_agent=(user_agent or "")[:300],
        )
    )
    operator.last_login_at = now
    record_audit(uow, operator_actor(operator, ip), "operator.logged_in", "operator", operator.id)
    return token


async def resolve_session(
    uow: UnitOfWork, token: str, policy: SessionPolicy
) -> tuple[Operator, ConsoleSession] | None:
    """The operator behind a session cookie, or ``None`` if unknown, idle or too old.

    Runs system-scoped (the brand comes from the session) and scopes the unit of work to the
    session's brand before returning.
    """
    sessions = SessionRepository(uow)
    session = await sessions.by_digest(digest(token))
    if session is None:
        return None
    now = uow.clock.now()
    idle = now - session.last_seen_at > timedelta(seconds=policy.idle_timeout_seconds)
    old = now - session.created_at > timedelta(seconds=policy.absolute_timeout_seconds)
    operator = await uow.session.get(Operator, session.operator_id)
    if idle or old or operator is None or not operator.active:
        await sessions.delete_digest(session.id_digest)
        return None
    uow.scope_to(session.brand_id)
    # Touch at most once a minute: an idle timeout needs no per-request write.
    if now - session.last_seen_at > timedelta(seconds=60):
        session.last_seen_at = now
    return operator, session


async def end_session(uow: UnitOfWork, token: str) -> None:
    await SessionRepository(uow).delete_digest(digest(token))


# --- API keys ------------------------------------------------------------------------------


async def create_api_key(
    uow: UnitOfWork, actor: Actor, *, name: str, role: Role
) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is never shown again."""
    actor.require(Permission.api_keys_manage)
    if role not in domain.grantable_roles(actor.role):
        raise PermissionDenied(f"role {actor.role} cannot create a {role} key")
    secret = API_KEY_PREFIX + new_token(32)
    key = ApiKeyRepository(uow).add(
        ApiKey(
            brand_id=actor.brand_id,
            name=name,
            prefix=secret[:10],
            digest=digest(secret),
            role=role,
            created_by=actor.id,
            created_at=uow.clock.now(),
        )
    )
    await uow.session.flush()
    record_audit(uow, actor, "api_key.created", "api_key", key.id, name=name, role=role)
    return key, secret


async def list_api_keys(uow: UnitOfWork, actor: Actor, page: PageRequest) -> Page[ApiKey]:
    actor.require(Permission.api_keys_manage)
    repo = ApiKeyRepository(uow)
    return await repo.page(repo.listing(), page)


async def revoke_api_key(uow: UnitOfWork, actor: Actor, key_id: uuid.UUID) -> ApiKey:
    actor.require(Permission.api_keys_manage)
    key = await ApiKeyRepository(uow).get(key_id)
    if key is None:
        raise ApiKeyNotFound()
    if key.role not in domain.grantable_roles(actor.role):
        # Revoking is as powerful as granting: a developer may not cut off an owner's key.
        raise PermissionDenied(f"role {actor.role} cannot revoke a {key.role} key")
    if key.revoked_at is None:
        key.revoked_at = uow.clock.now()
        record_audit(uow, actor, "api_key.revoked", "api_key", key.id)
    return key


async def resolve_api_key(uow: UnitOfWork, secret: str, *, ip: str | None) -> Actor:
    """The actor behind an API key; scopes the unit of work to its brand."""
    if not secret.startswith(API_KEY_PREFIX) or len(secret) > 100:
        raise InvalidApiKey()
    key = await ApiKeyRepository(uow).by_digest(digest(secret))
    if key is None or key.revoked_at is not None:
        raise InvalidApiKey()
    uow.scope_to(key.brand_id)
    now = uow.clock.now()
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        key.last_used_at = now
    return Actor(
        brand_id=key.brand_id,
        kind=ActorKind.api_key,
        id=key.id,
        name=f"key:{key.name}",
        role=key.role,
        ip=ip,
    )
