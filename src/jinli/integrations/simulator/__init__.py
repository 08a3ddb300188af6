"""The local WeChat Pay (and WeChat) simulator: Jinli's offline default (issue 3, part 2).

A faithful stand-in for ``https://api.mch.weixin.qq.com``: the same Jinli client, and the
community SDKs, work against it and against WeChat by changing the base URL alone. It
verifies merchant signatures (401 SIGN_ERROR), signs every reply and callback, serves
``/v3/certificates`` and public-key mode, runs the transfer-bill, cash red packet and brand red
packet state machines on its own clock, enforces WeChat's amount rules and rate limits, keeps
a book of what it paid, produces T+1 bills in WeChat's format, delivers callbacks on WeChat's
retry schedule, shows the consumer pages, and injects faults on demand.

Public surface:

- :class:`Simulator` (Python API: clock, book, faults, user actions, callbacks),
  :class:`SimulatorConfig`;
- :func:`create_simulator_app` (ASGI; mount under a prefix or serve alone);
- :func:`load_or_create_credentials`, :func:`credentials_dict`, :class:`Credentials`;
- :class:`Operation`, :class:`FaultKind`, :class:`Fault`; :class:`PayoutKind` (book);
- :mod:`.cli` — the Typer sub-app (``serve``, ``credentials --json``).

Reuses :mod:`jinli.integrations.wechatpay` for every signature, cipher and format.
"""

from .app import create_simulator_app
from .book import Book, BookEntry, PayoutKind
from .config import SimulatorConfig
from .credentials import Credentials, credentials_dict, load_or_create_credentials
from .faults import Fault, FaultKind, Operation
from .simulator import Simulator

__all__ = [
    "Book",
    "BookEntry",
    "Credentials",
    "Fault",
    "FaultKind",
    "Operation",
    "PayoutKind",
    "Simulator",
    "SimulatorConfig",
    "create_simulator_app",
    "credentials_dict",
    "load_or_create_credentials",
]
