"""The simulator's control panel (JSON, under ``/_sim/``): clock, faults, book, callbacks.

Unauthenticated by design: the simulator is a local test double and must never be exposed
beyond the machine (or the demo) it runs in. Every endpoint calls the Python API of
:class:`~.simulator.Simulator`.
"""

from __future__ import annotations

from typing import Any

from .asgi import Route, SimRequest, SimResponse, json_response, route
from .faults import Fault, FaultKind, Operation
from .simulator import Simulator


def _body(request: SimRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    data = request.json()
    if not isinstance(data, dict):
        raise ValueError("a JSON object is expected")
    return data


async def state(sim: Simulator, _: SimRequest, __: dict[str, str]) -> SimResponse:
    """Clock, balance, counts, faults."""
    return json_response(200, sim.snapshot())


async def book(sim: Simulator, _: SimRequest, __: dict[str, str]) -> SimResponse:
    """The whole book: every number, its state, and its success count."""
    sim.tick()
    with sim.lock:
        return json_response(200, sim.book.to_json())


async def advance(sim: Simulator, request: SimRequest, _: dict[str, str]) -> SimResponse:
    """``{"seconds": n}``: advance the clock, running transitions and callbacks on the way."""
    seconds = float(_body(request).get("seconds", 0))
    attempts = await sim.advance_and_deliver(seconds)
    return json_response(
        200,
        {"now": sim.now().isoformat(), "callbacks": [a.to_json() for a in attempts]},
    )


async def faults_get(sim: Simulator, _: SimRequest, __: dict[str, str]) -> SimResponse:
    """Queued faults and probabilities."""
    return json_response(200, sim.faults.pending())


async def faults_add(sim: Simulator, request: SimRequest, _: dict[str, str]) -> SimResponse:
    """``{"operation", "kind", "applied"?, "times"?, "copies"?, "probability"?, "seed"?}``."""
    data = _body(request)
    operation = Operation(data["operation"])
    fault = Fault(
        FaultKind(data["kind"]),
        applied=bool(data.get("applied", False)),
        copies=int(data.get("copies", 2)),
    )
    if "seed" in data:
        sim.faults.reseed(int(data["seed"]))
    if "probability" in data:
        sim.faults.set_probability(operation, fault, float(data["probability"]))
    else:
        sim.faults.inject(operation, fault, times=int(data.get("times", 1)))
    return json_response(200, sim.faults.pending())


async def faults_clear(sim: Simulator, _: SimRequest, __: dict[str, str]) -> SimResponse:
    """Remove every fault."""
    sim.faults.clear()
    return json_response(200, sim.faults.pending())


async def callbacks(sim: Simulator, _: SimRequest, __: dict[str, str]) -> SimResponse:
    """Every callback attempt so far."""
    with sim.lock:
        return json_response(200, {"attempts": [a.to_json() for a in sim.callback_log]})


async def deliver(sim: Simulator, _: SimRequest, __: dict[str, str]) -> SimResponse:
    """Deliver the callbacks due now."""
    attempts = await sim.deliver_due()
    return json_response(200, {"attempts": [a.to_json() for a in attempts]})


async def confirm(sim: Simulator, _: SimRequest, params: dict[str, str]) -> SimResponse:
    """The user confirms a transfer."""
    return json_response(200, {"confirmed": sim.confirm_transfer(params["no"])})


async def fail(sim: Simulator, request: SimRequest, params: dict[str, str]) -> SimResponse:
    """WeChat fails a transfer (``{"reason": …}``)."""
    reason = str(_body(request).get("reason", "TRANSFER_RISK"))
    return json_response(200, {"failed": sim.fail_transfer(params["no"], reason)})


async def open_redpack(sim: Simulator, _: SimRequest, params: dict[str, str]) -> SimResponse:
    """The user opens a red packet."""
    return json_response(200, {"opened": sim.open_redpack(params["no"])})


async def balance(sim: Simulator, request: SimRequest, _: dict[str, str]) -> SimResponse:
    """``{"fen": n}``: set the available balance."""
    sim.set_balance(int(_body(request)["fen"]))
    return json_response(200, {"balance_fen": sim.book.balance_fen})


async def messages(sim: Simulator, _: SimRequest, __: dict[str, str]) -> SimResponse:
    """Template messages received by the sink."""
    with sim.lock:
        return json_response(200, {"messages": list(sim.oauth.messages)})


def routes() -> list[Route]:
    """The admin endpoints."""
    return [
        route("GET", "/_sim/?", state),
        route("GET", "/_sim/book", book),
        route("POST", "/_sim/clock/advance", advance),
        route("GET", "/_sim/faults", faults_get),
        route("POST", "/_sim/faults", faults_add),
        route("DELETE", "/_sim/faults", faults_clear),
        route("GET", "/_sim/callbacks", callbacks),
        route("POST", "/_sim/callbacks/deliver", deliver),
        route("POST", "/_sim/transfers/{no}/confirm", confirm),
        route("POST", "/_sim/transfers/{no}/fail", fail),
        route("POST", "/_sim/redpacks/{no}/open", open_redpack),
        route("POST", "/_sim/balance", balance),
        route("GET", "/_sim/messages", messages),
    ]
