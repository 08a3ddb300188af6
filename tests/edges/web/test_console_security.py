"""S5 through the console as a browser drives it: session cookie, rotation, CSRF on every
state-changing POST, login throttling, timeouts, role and brand boundaries, and the audit log."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import structlog
from fastapi.routing import iter_route_contexts

from jinli.accounts import service as accounts_service
from jinli.accounts.domain import ROLE_PERMISSIONS, Role
from jinli.app.bootstrap import bootstrap
from jinli.app.web import create_app
from jinli.kernel.clock import FrozenClock
from jinli.kernel.pagination import PageRequest
from jinli.platform.runtime import Runtime
from jinli.platform.security import new_token
from tests.conftest import BACKENDS, make_settings
from tests.edges.web._console import (
    AUTH_ROUTES,
    CLIENT_IP,
    CONSOLE_ROUTES,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Browser,
    ConsoleRoute,
    Objects,
    changed_tables,
    cookie_attributes,
    db_state,
    is_error_page,
    is_login_redirect,
    is_refusal_page,
)
from tests.factories import PASSWORD, BrandFixture, create_brand, create_operator

BrowserFactory = Callable[[], Browser]


@pytest.fixture
def transport(runtime: Runtime) -> Iterator[httpx.ASGITransport]:
    """The app as a browser reaches it. A 500 is a page for the test to look at, not an
    exception; logs are captured rather than rendered (a rendered traceback takes seconds)."""
    with structlog.testing.capture_logs():
        yield httpx.ASGITransport(
            app=create_app(runtime), client=(CLIENT_IP, 50000), raise_app_exceptions=False
        )


@pytest.fixture
async def browser(transport: httpx.ASGITransport) -> AsyncIterator[BrowserFactory]:
    """Makes browsers (each with its own cookie jar) on the same app."""
    made: list[Browser] = []

    def make() -> Browser:
        made.append(Browser(transport))
        return made[-1]

    yield make
    for one in made:
        await one.aclose()


async def _logged_in(browser: BrowserFactory, email: str) -> Browser:
    one = browser()
    response = await one.login(email)
    assert response.status_code == 303, response.text
    return one


# --- (a) the session cookie ------------------------------------------------------------------


@pytest.mark.parametrize("secure", [False, True], ids=["http", "https"])
async def test_login_sets_an_httponly_lax_root_cookie_secure_when_configured(
    db_url: str, tmp_path: Path, clock: FrozenClock, secure: bool
) -> None:
    """The session cookie is HttpOnly, SameSite=Lax, Path=/, and Secure iff cookie_secure."""
    settings = make_settings(db_url, tmp_path, session={"cookie_secure": secure})
    runtime = bootstrap(settings, clock=clock)
    try:
        brand = await create_brand(runtime)
        transport = httpx.ASGITransport(app=create_app(runtime), client=(CLIENT_IP, 50000))
        one = Browser(transport, https=secure)  # a browser sends Secure cookies over TLS only
        form = await one.http.get("/console/login")
        _, login_csrf = cookie_attributes(form, LOGIN_CSRF_COOKIE)
        assert "httponly" in login_csrf
        assert login_csrf["samesite"].lower() == "strict"
        assert login_csrf["path"] == "/console/login"
        assert ("secure" in login_csrf) is secure

        response = await one.login(brand.owner_email)
        assert response.status_code == 303
        value, cookie = cookie_attributes(response, SESSION_COOKIE)
        assert len(value) >= 32
        assert "httponly" in cookie
        assert cookie["samesite"].lower() == "lax"
        assert cookie["path"] == "/"
        assert ("secure" in cookie) is secure
        assert int(cookie["max-age"]) <= settings.session.absolute_timeout_seconds

        page = await one.http.get("/console")
        assert page.status_code == 200
        assert page.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["referrer-policy"] == "same-origin"
        assert ("strict-transport-security" in page.headers) is secure
        await one.aclose()
    finally:
        await runtime.aclose()


# --- (b) rotation ----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_logging_in_again_rotates_the_session_id_and_kills_the_old_one(
    runtime: Runtime, browser: BrowserFactory
) -> None:
    """A login always issues a new session id; the one the browser held stops working."""
    brand = await create_brand(runtime)
    one = browser()
    one.http.cookies.set(SESSION_COOKIE, "planted-by-an-attacker-" + "x" * 20)
    first = await one.login(brand.owner_email)
    old = cookie_attributes(first, SESSION_COOKIE)[0]
    assert not old.startswith("planted")
    assert (await one.http.get("/console")).status_code == 200

    again = await one.login(brand.owner_email)
    new = cookie_attributes(again, SESSION_COOKIE)[0]
    assert new != old

    replay = browser()
    stale = await replay.http.get("/console", headers={"Cookie": f"{SESSION_COOKIE}={old}"})
    assert is_login_redirect(stale)
    fresh = await replay.http.get("/console", headers={"Cookie": f"{SESSION_COOKIE}={new}"})
    assert fresh.status_code == 200


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_logging_in_to_another_brand_kills_the_previous_brands_session(
    runtime: Runtime, browser: BrowserFactory
) -> None:
    """Switching account (and brand) in one browser destroys the session it held before."""
    brand_a = await create_brand(runtime, "A")
    brand_b = await create_brand(runtime, "B")
    one = await _logged_in(browser, brand_a.owner_email)
    old = one.session
    assert old is not None
    assert (await one.login(brand_b.owner_email)).status_code == 303
    replay = browser()
    stale = await replay.http.get("/console", headers={"Cookie": f"{SESSION_COOKIE}={old}"})
    assert is_login_redirect(stale)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_logout_ends_the_session_on_the_server(
    runtime: Runtime, browser: BrowserFactory
) -> None:
    """After logging out, replaying the old cookie leads to the login page."""
    brand = await create_brand(runtime)
    one = await _logged_in(browser, brand.owner_email)
    old = one.session
    out = await one.http.post("/console/logout", data={"csrf_token": await one.csrf()})
    assert is_login_redirect(out)
    replay = browser()
    stale = await replay.http.get("/console", headers={"Cookie": f"{SESSION_COOKIE}={old}"})
    assert is_login_redirect(stale)


# --- (c) CSRF on every state-changing POST ----------------------------------------------------


def test_every_console_route_is_in_the_permission_table_or_named_as_an_auth_route(
    runtime: Runtime,
) -> None:
    """The app's console routes are exactly CONSOLE_ROUTES plus the named auth routes."""
    app = create_app(runtime)
    served = {
        (method, str(route.path))
        for route in iter_route_contexts(app.routes)
        if str(route.path or "").startswith("/console")
        for method in (route.methods or ())
        if method != "HEAD"
    }
    known = {(r.method, r.template) for r in CONSOLE_ROUTES} | set(AUTH_ROUTES)
    assert served, "no console routes found"
    assert sorted(served - known) == [], "console routes missing from CONSOLE_ROUTES"
    assert sorted(known - served) == [], "CONSOLE_ROUTES lists routes that no longer exist"


def _csrf_routes() -> list[ConsoleRoute]:
    seen: set[str] = set()
    routes = []
    for route in CONSOLE_ROUTES:
        if route.method == "POST" and route.template not in seen:
            seen.add(route.template)
            routes.append(route)
    return routes


CSRF_ROUTES = _csrf_routes()
FORGERIES: dict[str, Callable[[str], dict[str, str]]] = {
    "no token": lambda _: {},
    "empty token": lambda _: {"csrf_token": ""},
    "wrong token": lambda _: {"csrf_token": new_token(24)},
    "another session's token": lambda other: {"csrf_token": other},
}


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("route", CSRF_ROUTES, ids=lambda r: r.template)
async def test_a_console_post_without_its_session_csrf_token_is_a_403_and_changes_nothing(
    runtime: Runtime, browser: BrowserFactory, route: ConsoleRoute
) -> None:
    """A forged token (none, empty, wrong, another session's) gets a 403 and changes nothing."""
    brand = await create_brand(runtime)
    objects = Objects(runtime, brand)
    one = await _logged_in(browser, brand.owner_email)
    other = await _logged_in(browser, brand.owner_email)
    other_token = await other.csrf()
    own_token = await one.csrf()
    assert other_token != own_token, "CSRF tokens must be per session"

    path, form = await route.prepare(objects)
    before = await db_state(runtime)
    for name, forge in FORGERIES.items():
        response = await one.http.post(path, data={**form, **forge(other_token)})
        assert is_error_page(response, 403), f"{name}: {response.status_code}"
        assert changed_tables(before, await db_state(runtime)) == [], name

    # The same request with the right token does change something: the check above is real.
    allowed = await one.http.post(path, data={**form, "csrf_token": own_token})
    assert allowed.status_code in (201, 303), allowed.text[:300]
    assert "error=" not in allowed.headers.get("location", "")
    assert changed_tables(before, await db_state(runtime)) != []


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_logout_without_its_csrf_token_keeps_the_session(
    runtime: Runtime, browser: BrowserFactory
) -> None:
    """A forged logout (no, wrong or another session's token) ends nothing."""
    brand = await create_brand(runtime)
    one = await _logged_in(browser, brand.owner_email)
    other_token = await (await _logged_in(browser, brand.owner_email)).csrf()
    before = await db_state(runtime)
    for name, forge in FORGERIES.items():
        await one.http.post("/console/logout", data=forge(other_token))
        assert changed_tables(before, await db_state(runtime)) == [], name
        assert (await one.http.get("/console")).status_code == 200, name


async def test_logout_without_its_csrf_token_is_a_403(
    runtime: Runtime, browser: BrowserFactory
) -> None:
    """A forged logout is refused like any other forged POST: a 403 page."""
    brand = await create_brand(runtime)
    one = await _logged_in(browser, brand.owner_email)
    response = await one.http.post("/console/logout", data={"csrf_token": new_token(24)})
    assert is_error_page(response, 403), response.status_code


async def test_the_language_switch_changes_no_server_state(
    runtime: Runtime, browser: BrowserFactory
) -> None:
    """The one console POST without a CSRF token only sets the visitor's language cookie."""
    brand = await create_brand(runtime)
    one = await _logged_in(browser, brand.owner_email)
    before = await db_state(runtime)
    response = await one.http.post("/console/lang/en", headers={"referer": "/console"})
    assert response.status_code == 303
    assert cookie_attributes(response, "jinli_lang")[0] == "en"
    assert [h for h in response.headers.get_list("set-cookie") if SESSION_COOKIE in h] == []
    assert changed_tables(before, await db_state(runtime)) == []


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
@pytest.mark.parametrize(
    "forgery", ["no cookie, no field", "field without cookie", "cookie and a different field"]
)
async def test_a_login_without_its_double_submit_token_is_refused(
    runtime: Runtime, browser: BrowserFactory, forgery: str
) -> None:
    """Login CSRF: without the matching cookie and field the right password opens nothing."""
    brand = await create_brand(runtime)
    one = browser()
    data = {"email": brand.owner_email, "password": PASSWORD, "next": "/console"}
    if forgery != "no cookie, no field":
        data["csrf_token"] = new_token(24)
    if forgery == "cookie and a different field":
        await one.http.get("/console/login")
        assert one.http.cookies.get(LOGIN_CSRF_COOKIE)
    before = await db_state(runtime)
    response = await one.http.post("/console/login", data=data)
    assert response.status_code == 403
    assert SESSION_COOKIE not in response.cookies
    assert changed_tables(before, await db_state(runtime)) == []


# --- (d) login throttling --------------------------------------------------------------------


async def _attempt(one: Browser, email: str, password: str) -> httpx.Response:
    response = await one.login(email, password)
    if response.status_code == 303:
        assert one.session is not None
    return response


async def _throttle_journey(
    runtime: Runtime, transport: httpx.ASGITransport, real_ttl: bool
) -> list[str]:
    """Lock an account out and wait the lock out; returns the e-mails it used."""
    policy = runtime.settings.login_throttle
    clock = runtime.clock
    assert isinstance(clock, FrozenClock)
    brand = await create_brand(runtime)
    colleague = await create_operator(runtime, brand, Role.operator)
    one = Browser(transport)
    try:
        for attempt in range(1, policy.free_attempts + 1):
            failed = await _attempt(one, brand.owner_email, "wrong-password-123")
            assert failed.status_code == 401, f"attempt {attempt}: {failed.status_code}"
        locked = await _attempt(one, brand.owner_email, PASSWORD)
        assert locked.status_code == 429
        assert locked.headers["content-type"].startswith("text/html")
        assert 'data-testid="login-error"' in locked.text
        assert SESSION_COOKIE not in locked.cookies
        assert (await _attempt(one, brand.owner_email, "wrong-password-123")).status_code == 429

        other = Browser(transport)
        assert (await _attempt(other, colleague, PASSWORD)).status_code == 303, (
            "the lock is per account: a colleague behind the same IP still logs in"
        )
        await other.aclose()

        clock.advance(timedelta(seconds=policy.base_delay_seconds + 1))
        if real_ttl:  # Redis expires keys on its own clock
            await asyncio.sleep(policy.base_delay_seconds + 0.2)
        opened = await _attempt(one, brand.owner_email, PASSWORD)
        assert opened.status_code == 303
        assert (await one.http.get("/console")).status_code == 200
    finally:
        await one.aclose()
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        failures = await accounts_service.list_audit(
            uow, brand.actor(), PageRequest(limit=100), action="operator.login_failed"
        )
    assert failures.total == policy.free_attempts, "locked attempts are not even evaluated"
    return [brand.owner_email, colleague]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_login_is_locked_after_the_free_failures_even_for_the_right_password(
    runtime: Runtime, transport: httpx.ASGITransport
) -> None:
    """After 5 failures a 429 page refuses even the right password until the back-off ends."""
    # In-memory counters on SQLite, database counters on PostgreSQL (Redis: the test below).
    assert runtime.settings.login_throttle.free_attempts == 5
    await _throttle_journey(runtime, transport, real_ttl=False)


async def test_the_number_of_free_login_attempts_is_configurable(
    db_url: str, tmp_path: Path, clock: FrozenClock
) -> None:
    """With ``login_throttle.free_attempts = 2`` the lock comes after the second failure."""
    settings = make_settings(db_url, tmp_path, login_throttle={"free_attempts": 2})
    runtime = bootstrap(settings, clock=clock)
    try:
        transport = httpx.ASGITransport(app=create_app(runtime), client=(CLIENT_IP, 50000))
        await _throttle_journey(runtime, transport, real_ttl=False)
    finally:
        await runtime.aclose()


@pytest.mark.redis
async def test_login_throttling_holds_with_redis_counters(
    db_url: str, tmp_path: Path, clock: FrozenClock, redis_url: str
) -> None:
    """The same lock-out with Redis counters (the scaled-out deployment)."""
    settings = make_settings(
        db_url, tmp_path, redis_url=redis_url, login_throttle={"base_delay_seconds": 1}
    )
    runtime = bootstrap(settings, clock=clock)
    # A client address of its own: Redis outlives the run, and the per-IP counter must not
    # carry over to the next one (nor to another suite sharing the server).
    ip = f"198.51.100.{random.randint(1, 254)}"
    emails: list[str] = []
    try:
        transport = httpx.ASGITransport(app=create_app(runtime), client=(ip, 50000))
        emails = await _throttle_journey(runtime, transport, real_ttl=True)
    finally:
        assert runtime.redis is not None
        for suffix in [f"ip:{ip}", *(f"acct:{email}" for email in emails)]:
            keys = [k async for k in runtime.redis.scan_iter(match=f"jinli:ctr:*login:{suffix}")]
            if keys:
                await runtime.redis.delete(*keys)
        await runtime.aclose()


# --- (e) idle and absolute timeouts ----------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_an_idle_session_expires_but_activity_keeps_it_alive(
    runtime: Runtime, browser: BrowserFactory
) -> None:
    """Browsing within the idle timeout keeps the session; a longer pause ends it."""
    clock = runtime.clock
    assert isinstance(clock, FrozenClock)
    idle = runtime.settings.session.idle_timeout_seconds
    brand = await create_brand(runtime)
    one = await _logged_in(browser, brand.owner_email)
    almost = timedelta(seconds=idle - 120)
    for _ in range(3):  # 3 × (idle − 2 min) after login: only activity can keep it alive
        clock.advance(almost)
        page = await one.http.get("/console/campaigns")
        assert page.status_code == 200, "a session in use must not time out"
    clock.advance(timedelta(seconds=idle + 1))
    gone = await one.http.get("/console/campaigns")
    assert is_login_redirect(gone)
    assert gone.headers["location"] == "/console/login?next=/console/campaigns"
    post = await one.http.post("/console/campaigns/new", data={"csrf_token": "x"})
    assert is_login_redirect(post)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_session_ends_at_the_absolute_timeout_however_active(
    runtime: Runtime, browser: BrowserFactory
) -> None:
    """A session in constant use still ends once it is older than the absolute timeout."""
    clock = runtime.clock
    assert isinstance(clock, FrozenClock)
    settings = runtime.settings.session
    brand = await create_brand(runtime)
    one = await _logged_in(browser, brand.owner_email)
    step = timedelta(seconds=settings.idle_timeout_seconds // 2)
    age = timedelta(0)
    while age + step <= timedelta(seconds=settings.absolute_timeout_seconds):
        clock.advance(step)
        age += step
        assert (await one.http.get("/console")).status_code == 200, f"ended early at {age}"
    clock.advance(step)
    assert is_login_redirect(await one.http.get("/console"))


# --- (f) roles ---------------------------------------------------------------------------------


LIMITED_ROLES = [Role.operator, Role.finance, Role.developer]
ROLE_CELLS = [
    pytest.param(route, role, id=f"{route.id} as {role}")
    for route in CONSOLE_ROUTES
    for role in LIMITED_ROLES
    if route.permission not in ROLE_PERMISSIONS[role]
]


async def _role_browser(
    runtime: Runtime, browser: BrowserFactory, brand: BrandFixture, role: Role
) -> Browser:
    return await _logged_in(browser, await create_operator(runtime, brand, role))


async def _request(
    one: Browser, route: ConsoleRoute, path: str, form: dict[str, str]
) -> httpx.Response:
    if route.method == "GET":
        return await one.http.get(path)
    return await one.http.post(path, data={**form, "csrf_token": await one.csrf()})


@pytest.mark.parametrize(("route", "role"), ROLE_CELLS)
async def test_a_role_without_the_permission_gets_a_403_page(
    runtime: Runtime, browser: BrowserFactory, route: ConsoleRoute, role: Role
) -> None:
    """Pages and actions a role lacks answer with a 403 page, never a traceback or a success."""
    brand = await create_brand(runtime)
    one = await _role_browser(runtime, browser, brand, role)
    path, form = await route.prepare(Objects(runtime, brand))
    response = await _request(one, route, path, form)
    assert is_refusal_page(response, 403), f"{response.status_code} {response.headers}"


@pytest.mark.parametrize(("route", "role"), [p for p in ROLE_CELLS if p.values[0].method == "POST"])
async def test_a_role_without_the_permission_changes_nothing(
    runtime: Runtime, browser: BrowserFactory, route: ConsoleRoute, role: Role
) -> None:
    """A refused action leaves every row as it was; the owner's identical request does not."""
    brand = await create_brand(runtime)
    objects = Objects(runtime, brand)
    one = await _role_browser(runtime, browser, brand, role)
    token = await one.csrf()
    path, form = await route.prepare(objects)
    before = await db_state(runtime)
    await one.http.post(path, data={**form, "csrf_token": token})
    assert changed_tables(before, await db_state(runtime)) == []

    # Positive control: the owner's identical request does change something.
    owner = await _logged_in(browser, brand.owner_email)
    path, form = await route.prepare(objects)
    before = await db_state(runtime)
    allowed = await _request(owner, route, path, form)
    assert allowed.status_code in (201, 303)
    assert "error=" not in allowed.headers.get("location", "")
    assert changed_tables(before, await db_state(runtime)) != []


async def test_a_developer_cannot_create_an_owner_key_in_the_console(
    runtime: Runtime, browser: BrowserFactory
) -> None:
    """API keys never carry more than their creator holds: developer → owner key is a 403."""
    brand = await create_brand(runtime)
    one = await _role_browser(runtime, browser, brand, Role.developer)
    before = await db_state(runtime)
    response = await one.http.post(
        "/console/api-keys",
        data={"name": "escalate", "role": "owner", "csrf_token": await one.csrf()},
    )
    assert is_error_page(response, 403)
    assert changed_tables(before, await db_state(runtime)) == []


# --- (g) brands ------------------------------------------------------------------------------


OBJECT_ROUTES = [r for r in CONSOLE_ROUTES if "_id}" in r.template]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("route", OBJECT_ROUTES, ids=lambda r: r.id)
async def test_another_brands_operator_gets_404_on_every_object_page(
    runtime: Runtime, browser: BrowserFactory, route: ConsoleRoute
) -> None:
    """Brand B's owner gets a 404 page on brand A's object pages and changes nothing."""
    brand_a = await create_brand(runtime, "A")
    brand_b = await create_brand(runtime, "B")
    intruder = await _logged_in(browser, brand_b.owner_email)
    path, form = await route.prepare(Objects(runtime, brand_a))
    before = await db_state(runtime)
    response = await _request(intruder, route, path, form)
    assert is_error_page(response, 404), response.status_code
    assert changed_tables(before, await db_state(runtime)) == []


# --- (h) the audit log -------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_the_audit_log_records_logins_and_campaign_actions_with_who_what_when_where(
    runtime: Runtime, browser: BrowserFactory
) -> None:
    """Logins (failed or not) and campaign actions are audited: who, what, which, when, IP."""
    clock = runtime.clock
    assert isinstance(clock, FrozenClock)
    brand = await create_brand(runtime)
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        owner = await accounts_service.operator_by_email(uow, brand.owner_email)
        assert owner is not None
        owner_id = owner.id
    one = browser()

    failed_at = clock.now()
    assert (await one.login(brand.owner_email, "wrong-password-123")).status_code == 401
    clock.advance(timedelta(minutes=1))
    logged_in_at = clock.now()
    assert (await one.login(brand.owner_email)).status_code == 303
    clock.advance(timedelta(minutes=1))
    created_at = clock.now()
    path, form = await CONSOLE_ROUTES[3].prepare(Objects(runtime, brand))
    assert path == "/console/campaigns/new"
    created = await one.http.post(path, data={**form, "csrf_token": await one.csrf()})
    assert created.status_code == 303
    campaign_id = created.headers["location"].split("?")[0].rsplit("/", 1)[1]
    clock.advance(timedelta(minutes=1))
    published_at = clock.now()
    published = await one.http.post(
        f"/console/campaigns/{campaign_id}/actions/publish",
        data={"csrf_token": await one.csrf()},
    )
    assert published.status_code == 303
    assert "error=" not in published.headers["location"]

    async with runtime.uow(brand_id=brand.brand_id) as uow:
        page = await accounts_service.list_audit(uow, brand.actor(), PageRequest(limit=100))
        entries = {(e.action, e.object_id): e for e in page.items}
        expected = [
            ("operator.login_failed", "operator", str(owner_id), failed_at),
            ("operator.logged_in", "operator", str(owner_id), logged_in_at),
            ("campaign.created", "campaign", campaign_id, created_at),
            ("campaign.published", "campaign", campaign_id, published_at),
        ]
        for action, object_type, object_id, at in expected:
            entry = entries.get((action, object_id))
            assert entry is not None, f"no audit entry {action} on {object_id}"
            assert entry.actor_kind == "operator", action
            assert entry.actor_id == owner_id, action
            assert entry.actor_name == brand.owner_email, action
            assert entry.object_type == object_type, action
            assert entry.at == at, action
            assert entry.ip == CLIENT_IP, action

    shown = await one.http.get("/console/audit")
    assert shown.status_code == 200
    for action, *_ in expected:
        assert action in shown.text
