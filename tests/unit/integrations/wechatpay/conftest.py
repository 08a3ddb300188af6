"""Key pairs and a frozen clock shared by the WeChat Pay protocol tests.

RSA key generation costs tens of milliseconds, so the merchant and platform keys are made once
per session.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jinli.integrations.wechatpay.crypto import KeyPair, generate_key_pair
from jinli.kernel.clock import FrozenClock

T0 = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
"""Test time; the generated certificates are valid from a day before until years after."""
MCHID = "1900000109"
API_V3_KEY = "0123456789abcdefghijABCDEFGHIJ01"
"""A 32-byte APIv3 key, as WeChat issues them."""


@pytest.fixture(scope="session")
def merchant() -> KeyPair:
    """The merchant's API key pair (apiclient_key.pem + apiclient_cert.pem)."""
    return generate_key_pair(common_name=MCHID, not_before=T0 - timedelta(days=1))


@pytest.fixture(scope="session")
def platform() -> KeyPair:
    """WeChat Pay's platform key pair, as the simulator holds it."""
    return generate_key_pair(common_name="Tenpay.com Root CA", not_before=T0 - timedelta(days=1))


@pytest.fixture
def clock() -> FrozenClock:
    """A clock frozen at T0."""
    return FrozenClock(T0)
