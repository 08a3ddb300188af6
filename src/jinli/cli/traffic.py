"""``jinli demo traffic``: simulated consumers scanning bottle caps against a running demo, over
real HTTP, so that the live page has something real to show.

Each consumer is its own browser (cookie jar, device cookie) on its own loopback address and
walks the real journey: ``GET /s/{code}`` → WeChat OAuth on the simulator → the callback →
the scan page → the claim ``POST`` with the page's CSRF token → the prize page; some then
confirm their transfer on the simulator's 确认收款 page. The mix:

- **fresh**: a new code of the demo batch, from 杭州 (``127.0.0.x``, the batch's region);
- **elsewhere**: a new code from 深圳/北京/上海 (``127.0.1–3.x``): the 串货 alert;
- **rescan**: a code claimed before (this run or an earlier one): the anti-counterfeit answer;
- **guesser**: typed-in codes (random, or a real code with one character changed) until the
  throttle blocks them.

The simulator's silent ``snsapi_base`` sign-in always answers with its one demo consumer; a
crowd needs many openids, so each consumer signs in through the simulator's consent form
(the same ``authorize`` parameters plus its own openid), the way its page lets a tester pick
a user. The codes come from the demo batch's printer export in the data directory (the only
plaintext Jinli keeps), so the command runs on the demo's machine.
"""

from __future__ import annotations

import asyncio
import html
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford base32, as printed on the caps (guessers type from it)."""


class Kind(StrEnum):
    fresh = "fresh"
    elsewhere = "elsewhere"
    rescan = "rescan"
    guesser = "guesser"


MIX: tuple[tuple[Kind, int], ...] = (
    (Kind.fresh, 13),
    (Kind.elsewhere, 3),
    (Kind.rescan, 2),
    (Kind.guesser, 2),
)
"""Out of every 20 consumers (shuffled within each 20, so any 20 in a row hold all four)."""
GUESSES_EACH = 8
"""Codes a guesser types; the default throttle blocks the 6th onwards (5 per 10 minutes)."""
CONFIRM_EVERY = 2
"""One transfer winner in this many confirms on the simulator's page (the rest leave it)."""

HOME = [f"127.0.0.{i}" for i in range(2, 200)]
"""The batch's region (浙江/杭州 in the demo map). 127.0.0.1 is left to the person at the
browser, so a blocked guesser never blocks them."""
GUESS_HOME = [f"127.0.0.{i}" for i in range(200, 255)]
"""Guessers' own addresses: the per-IP throttle then blocks only them."""
ELSEWHERE = {
    "广东/深圳": [f"127.0.1.{i}" for i in range(2, 255)],
    "北京": [f"127.0.2.{i}" for i in range(2, 255)],
    "上海": [f"127.0.3.{i}" for i in range(2, 255)],
}


@dataclass(frozen=True)
class Plan:
    consumers: int = 1000
    rate: float = 15.0
    """Consumers started per second."""
    duration: float | None = None
    """Stop starting consumers after this many seconds (those under way finish)."""
    concurrency: int = 48
    confirm_wait: float = 12.0
    """How long a confirming winner waits for the worker to send the transfer (seconds)."""
    seed: int | None = None
    bind: bool = True
    """Bind each consumer to its loopback address (only for a server on this machine)."""


@dataclass
class Tally:
    """What the crowd did and what the server answered (money in fen)."""

    consumers: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    scans: int = 0
    """Scan pages of genuine codes (first scans and re-scans) and claims."""
    claims: int = 0
    wins: int = 0
    no_prize: int = 0
    fen: int = 0
    rescans_answered: int = 0
    guesses: int = 0
    guesses_rejected: int = 0
    guesses_blocked: int = 0
    cross_region: int = 0
    """Scans of genuine codes from outside the batch's region (each one a 串货 alert)."""
    confirmed: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    """Pages refusing a genuine code, by kind (budget used up, daily limit, …)."""
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: int = 0
    failures: list[str] = field(default_factory=list)
    """Transport errors and unexpected answers (the first few)."""

    def fail(self, what: str) -> None:
        if len(self.failures) < 20:
            self.failures.append(what)


class CodeSupply:
    """The demo batch's codes: fresh ones handed out once, and the ones scanned before (for
    re-scans). ``remember`` appends a scanned code to ``used_file`` so a later run does not
    hand it out as fresh again."""

    def __init__(
        self,
        codes: Iterable[str],
        *,
        used: Iterable[str] = (),
        used_file: Path | None = None,
        rng: random.Random,
    ) -> None:
        self.used: list[str] = list(dict.fromkeys(used))
        seen = set(self.used)
        self.fresh = [c for c in codes if c not in seen]
        rng.shuffle(self.fresh)
        self.used_file = used_file
        self.real = self.fresh[:50] or self.used[:50]

    def take_fresh(self) -> str | None:
        return self.fresh.pop() if self.fresh else None

    def remember(self, code: str) -> None:
        self.used.append(code)
        if self.used_file is not None:
            self.used_file.parent.mkdir(parents=True, exist_ok=True)
            with self.used_file.open("a", encoding="ascii") as out:
                out.write(code + "\n")


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_KIND = re.compile(r'data-kind="([a-z_]+)"')
_AMOUNT = re.compile(r'data-testid="amount">¥([0-9]+)(?:\.([0-9]{1,2}))?<')
_CONFIRM = re.compile(r'data-testid="confirm" href="([^"]+)"|href="([^"]+)" data-testid="confirm"')
_PACKAGE = re.compile(r'name="package" value="([^"]+)"')


def yuan_to_fen(whole: str, cents: str | None) -> int:
    return int(whole) * 100 + int((cents or "0").ljust(2, "0"))


class Consumer:
    """One simulated phone: a cookie jar, a loopback address, an openid."""

    def __init__(
        self, http: httpx.AsyncClient, openid: str, tally: Tally, *, away: bool = False
    ) -> None:
        self.http = http
        self.openid = openid
        self.tally = tally
        self.away = away

    async def request(
        self, method: str, url: str, data: dict[str, str] | None = None
    ) -> httpx.Response:
        response = await self.http.request(method, url, data=data)
        self.tally.statuses[response.status_code] += 1
        if response.status_code >= 500:
            self.tally.server_errors += 1
            self.tally.fail(f"{method} {urlsplit(url).path} → {response.status_code}")
        return response

    async def sign_in(self, authorize_url: str) -> bool:
        """WeChat OAuth on the simulator: its consent form with this consumer's openid, then
        back to Jinli's callback, which starts the session and redirects to the scan."""
        parts = urlsplit(authorize_url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        consent = urlunsplit(
            parts._replace(
                path=parts.path.replace("/oauth2/authorize", "/oauth2/consent"),
                query="",
                fragment="",
            )
        )
        form = {
            "redirect_uri": query.get("redirect_uri", ""),
            "state": query.get("state", ""),
            "scope": query.get("scope", "snsapi_base"),
            "openid": self.openid,
        }
        back = await self.request("POST", consent, form)
        if back.status_code != 302:
            self.tally.fail(f"simulator consent → {back.status_code}")
            return False
        callback = await self.request("GET", back.headers["location"])
        if callback.status_code != 303:
            self.tally.fail(f"oauth callback → {callback.status_code}")
            return False
        return True

    async def open_scan(self, code: str) -> httpx.Response:
        """``GET /s/{code}``, signing in on the way when WeChat OAuth is asked for."""
        response = await self.request("GET", f"/s/{code}")
        location = response.headers.get("location", "")
        if response.status_code == 302 and "/oauth2/authorize" in location:
            if not await self.sign_in(location):
                return response
            response = await self.request("GET", f"/s/{code}")
        return response

    def _page_result(self, response: httpx.Response) -> str:
        """What a scan or claim answer is: ready, answer, prize, or a message kind."""
        text = response.text
        if response.status_code == 303 and "/h5/prize/" in response.headers.get("location", ""):
            return "prize"
        if 'data-testid="genuine"' in text:
            return "ready"
        if 'data-testid="answer"' in text:
            return "answer"
        found = _KIND.search(text)
        return found.group(1) if found else f"status_{response.status_code}"

    def _counted_scan(self, result: str) -> None:
        if result in ("ready", "answer") or result in _REFUSALS:
            self.tally.scans += 1
            if self.away:
                self.tally.cross_region += 1

    async def scan_and_claim(self, code: str, supply: CodeSupply) -> str | None:
        """Scan a (genuine) code and, when it can pay, tap 拆红包. The prize page URL when it
        was claimed, else ``None``."""
        page = await self.open_scan(code)
        result = self._page_result(page)
        self._counted_scan(result)
        if result == "answer":
            self.tally.rescans_answered += 1
            return None
        if result != "ready":
            self._refused(result)
            return None
        csrf = _CSRF.search(page.text)
        if csrf is None:
            self.tally.fail("scan page without a CSRF token")
            return None
        supply.remember(code)
        done = await self.request("POST", f"/s/{code}", {"csrf": html.unescape(csrf.group(1))})
        self.tally.claims += 1
        self.tally.scans += 1
        result = self._page_result(done)
        if result == "answer":  # lost a race for the code: the answer, never a second prize
            self.tally.rescans_answered += 1
            return None
        if result != "prize":
            self._refused(result)
            return None
        prize_url = done.headers["location"]
        prize = await self.request("GET", prize_url)
        amount = _AMOUNT.search(prize.text)
        if amount is None:
            self.tally.no_prize += 1
            return None
        self.tally.wins += 1
        self.tally.fen += yuan_to_fen(amount.group(1), amount.group(2))
        return prize_url

    def _refused(self, result: str) -> None:
        self.tally.refused[result] += 1
        if result not in _REFUSALS:
            self.tally.fail(f"unexpected scan answer: {result}")

    async def confirm(self, prize_url: str, wait: float) -> None:
        """Wait for the worker to send the transfer, then 确认收款 on the simulator's page."""
        deadline = time.monotonic() + wait
        while True:
            prize = await self.request("GET", prize_url)
            link = _CONFIRM.search(prize.text)
            if link is not None:
                break
            if 'data-stage="pending"' not in prize.text or time.monotonic() >= deadline:
                return  # a red packet, already paid, or the worker is not running
            await asyncio.sleep(1.0)
        url = html.unescape(link.group(1) or link.group(2))
        page = await self.request("GET", url)
        package = _PACKAGE.search(page.text)
        if package is None:
            return
        parts = urlsplit(url)
        action = urlunsplit(
            parts._replace(
                path=parts.path.replace("/pages/transfer", "/pages/transfer/confirm"), query=""
            )
        )
        done = await self.request("POST", action, {"package": html.unescape(package.group(1))})
        if done.status_code in (302, 303):
            self.tally.confirmed += 1

    async def guess(self, text: str) -> None:
        response = await self.request("GET", f"/s/{text}")
        self.tally.guesses += 1
        if response.status_code == 429:
            self.tally.guesses_blocked += 1
        elif response.status_code in (400, 404):
            self.tally.guesses_rejected += 1
        else:
            self.tally.fail(f"a guess got {response.status_code}")


_REFUSALS = frozenset(
    {"inactive", "not_live", "budget_exhausted", "claims_throttled", "throttled", "csrf"}
)


def guesses(rng: random.Random, real: list[str], count: int) -> list[str]:
    """What a bounty hunter types: random codes, real codes with one character changed, and
    the odd malformed string."""
    typed: list[str] = []
    for n in range(count):
        if n % 4 == 3:
            typed.append("".join(rng.choice("ABCDEFXYZ") for _ in range(6)))
        elif real and n % 2 == 1:
            base = list(rng.choice(real))
            at = rng.randrange(len(base))
            base[at] = rng.choice([c for c in ALPHABET if c != base[at]])
            typed.append("".join(base))
        else:
            typed.append("".join(rng.choice(ALPHABET) for _ in range(24)))
    return typed


def kinds(rng: random.Random, count: int) -> list[Kind]:
    """Consumer kinds by the MIX, shuffled within each block of 20."""
    block = [kind for kind, share in MIX for _ in range(share)]
    out: list[Kind] = []
    while len(out) < count:
        step = block[:]
        rng.shuffle(step)
        out.extend(step)
    return out[:count]


async def play(
    base_url: str,
    plan: Plan,
    supply: CodeSupply,
    *,
    progress: Callable[[Tally], None] | None = None,
    transport_for: Callable[[str], httpx.AsyncBaseTransport] | None = None,
) -> Tally:
    """Play ``plan.consumers`` consumers against ``base_url`` at ``plan.rate`` a second, at
    most ``plan.concurrency`` at once; returns what happened. ``transport_for`` (tests) makes
    the transport for a source address; by default each consumer binds its address."""
    rng = random.Random(plan.seed)
    tally = Tally()
    run_tag = f"{int(time.time()):x}"
    slots = asyncio.Semaphore(plan.concurrency)
    loop = asyncio.get_running_loop()
    started = loop.time()
    pending: set[asyncio.Task[None]] = set()
    bound = transport_for is not None or plan.bind

    def transport(address: str) -> httpx.AsyncBaseTransport | None:
        if transport_for is not None:
            return transport_for(address)
        if not plan.bind:
            return None
        return httpx.AsyncHTTPTransport(local_address=address)

    async def one(number: int, kind: Kind, seed: int) -> None:
        own = random.Random(seed)
        away = kind == Kind.elsewhere
        if kind == Kind.guesser:
            address = own.choice(GUESS_HOME)
        elif away:
            address = own.choice(ELSEWHERE[own.choice(sorted(ELSEWHERE))])
        else:
            address = own.choice(HOME)
        openid = f"o_traffic_{run_tag}_{number:06d}"
        client = httpx.AsyncClient(
            base_url=base_url,
            transport=transport(address),
            timeout=httpx.Timeout(60.0),
            follow_redirects=False,
        )
        try:
            async with client:
                who = Consumer(client, openid, tally, away=away and bound)
                await _act(who, kind, own, supply, plan)
        except httpx.HTTPError as exc:
            tally.fail(f"{type(exc).__name__}: {exc}")
        finally:
            tally.consumers += 1
            tally.kinds[kind] += 1
            slots.release()
            if progress is not None:
                progress(tally)

    for number, kind in enumerate(kinds(rng, plan.consumers)):
        due = started + number / plan.rate
        if plan.duration is not None and due - started >= plan.duration:
            break
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await slots.acquire()
        task = asyncio.create_task(one(number, kind, rng.getrandbits(64)))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.gather(*pending)
    return tally


async def _act(
    who: Consumer, kind: Kind, rng: random.Random, supply: CodeSupply, plan: Plan
) -> None:
    if kind == Kind.guesser:
        # A hunter holding one real cap (already used) signs in with it, then types codes.
        if supply.used:
            await who.scan_and_claim(rng.choice(supply.used), supply)
        for text in guesses(rng, supply.real, GUESSES_EACH):
            await who.guess(text)
        return
    if kind == Kind.rescan:
        if supply.used:
            await who.scan_and_claim(rng.choice(supply.used), supply)
            return
        code = supply.take_fresh()  # nothing scanned yet: scan a cap twice
        if code is not None:
            await who.scan_and_claim(code, supply)
            await who.scan_and_claim(code, supply)
        return
    code = supply.take_fresh()
    if code is None:
        if supply.used:  # the batch is used up: what is left are re-scans
            await who.scan_and_claim(rng.choice(supply.used), supply)
        return
    prize_url = await who.scan_and_claim(code, supply)
    if prize_url is not None and rng.randrange(CONFIRM_EVERY) == 0:
        await who.confirm(prize_url, plan.confirm_wait)


def summary_rows(tally: Tally, elapsed: float) -> list[tuple[str, str]]:
    """The end-of-run summary, as (label, value) lines."""
    refused = ", ".join(f"{k} {v}" for k, v in sorted(tally.refused.items())) or "none"
    mix = ", ".join(f"{k} {tally.kinds[k]}" for k in Kind if tally.kinds[k])
    return [
        ("consumers", f"{tally.consumers} ({mix}) in {elapsed:.1f} s"),
        ("scans", f"{tally.scans} of genuine codes ({tally.claims} claims)"),
        ("wins", f"{tally.wins}, ¥{tally.fen // 100}.{tally.fen % 100:02d} ({tally.fen} fen)"),
        ("谢谢参与", str(tally.no_prize)),
        ("re-scans answered", str(tally.rescans_answered)),
        (
            "guesses",
            f"{tally.guesses}: {tally.guesses_rejected} rejected, "
            f"{tally.guesses_blocked} blocked (429)",
        ),
        ("cross-region scans", f"{tally.cross_region} (串货 alerts)"),
        ("transfers confirmed", str(tally.confirmed)),
        ("refused", refused),
        ("server errors (5xx)", str(tally.server_errors)),
    ]
