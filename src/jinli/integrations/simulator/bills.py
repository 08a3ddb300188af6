"""Bills (交易账单, 资金账单) as WeChat serves them: T+1, hashed, downloaded by token.

Rules reproduced (wechat-pay.md §7, reliability.md §1.2):

- ``bill_date`` is a Beijing day within the last 3 months and not today or later.
- Yesterday's bill is generated from 09:00 and ready at 10:00 Beijing time (on the simulator
  clock): before that, 400 STATEMENT_CREATING. A day without activity: 400
  NO_STATEMENT_EXIST.
- The reply is ``{hash_type: SHA1, hash_value, download_url}``; the URL begins with the
  configured base URL (SDKs strip it to sign the download) and is valid for 5 minutes. The
  hash covers the decompressed file (the official Java sample checks it that way); with
  ``tar_type=GZIP`` the download is gzip, otherwise plain text. The download is not signed.
- Content is written by :mod:`jinli.integrations.wechatpay.bills` in WeChat's exact format.
  Payouts appear only in the fund-flow bill (``account_type=BASIC``): one expense row per
  payout, one income row per refund or return, 业务凭证号 = the merchant number. The trade
  bill holds only pay-in trades, which the simulator does not process itself; tests can add
  trade rows through :meth:`BillDesk.add_trade`.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote

from jinli.integrations.wechatpay.bills import (
    TRADE_ALL_HEADER,
    TRADE_REFUND_HEADER,
    TRADE_SUCCESS_HEADER,
    TradeBillRow,
    format_fund_flow_bill,
    format_trade_bill,
)
from jinli.kernel.clock import SHANGHAI

from .core import SimCore
from .errors import V3Error, param_error

DOWNLOAD_PATH = "/v3/billdownload/file"
READY_AT = time(10, 0)
"""Yesterday's bills can be fetched from 10:00 Beijing time."""
RETENTION_DAYS = 92
"""Three months back."""
URL_TTL = timedelta(minutes=5)
TRADE_HEADERS = {
    "ALL": TRADE_ALL_HEADER,
    "SUCCESS": TRADE_SUCCESS_HEADER,
    "REFUND": TRADE_REFUND_HEADER,
}
ACCOUNT_TYPES = ("BASIC", "OPERATION", "FEES")


@dataclass(frozen=True)
class Download:
    """A bill waiting to be downloaded by token."""

    content: bytes
    """The bill text (UTF-8, decompressed)."""
    gzip: bool
    expires_at: datetime


def _bill_date(query: dict[str, str], now: datetime) -> date:
    raw = query.get("bill_date", "")
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise param_error("bill_date格式错误，应为YYYY-MM-DD", field="bill_date") from None
    if len(raw) != 10:
        raise param_error("bill_date格式错误，应为YYYY-MM-DD", field="bill_date")
    local = now.astimezone(SHANGHAI)
    if day >= local.date():
        raise param_error("只能下载当日之前的账单", field="bill_date")
    if day < local.date() - timedelta(days=RETENTION_DAYS):
        raise param_error("只能下载三个月以内的账单", field="bill_date")
    if day == local.date() - timedelta(days=1) and local.time() < READY_AT:
        raise V3Error("STATEMENT_CREATING", "账单生成中，请在10点后再下载")
    return day


def _tar(query: dict[str, str]) -> bool:
    tar_type = query.get("tar_type")
    if tar_type not in (None, "", "GZIP"):
        raise param_error("tar_type取值错误", field="tar_type")
    return tar_type == "GZIP"


def _same_day(at: datetime, day: date) -> bool:
    return at.astimezone(SHANGHAI).date() == day


class BillDesk:
    """Generates bills from the book and serves their downloads."""

    def __init__(self, core: SimCore) -> None:
        self.core = core
        self.trades: list[TradeBillRow] = []
        self._downloads: dict[str, Download] = {}

    def add_trade(self, row: TradeBillRow) -> None:
        """Add a pay-in trade row (its ``trade_time`` decides the day)."""
        self.trades.append(row)

    def trade_bill(self, query: dict[str, str], now: datetime) -> dict[str, Any]:
        """``GET /v3/bill/tradebill``."""
        day = _bill_date(query, now)
        bill_type = query.get("bill_type") or "ALL"
        header = TRADE_HEADERS.get(bill_type)
        if header is None:
            raise param_error("bill_type取值错误", field="bill_type")
        gz = _tar(query)
        rows = [r for r in self.trades if r.trade_time.startswith(day.isoformat())]
        if bill_type == "SUCCESS":
            rows = [r for r in rows if r.trade_state == "SUCCESS"]
        elif bill_type == "REFUND":
            rows = [r for r in rows if r.trade_state == "REFUND"]
        if not rows:
            raise V3Error("NO_STATEMENT_EXIST", "该日期无交易账单")
        content = "".join(format_trade_bill(rows, header=header)).encode("utf-8")
        return self._offer(content, gz, now)

    def fund_flow_bill(self, query: dict[str, str], now: datetime) -> dict[str, Any]:
        """``GET /v3/bill/fundflowbill``: the payouts' bill."""
        day = _bill_date(query, now)
        account_type = query.get("account_type") or "BASIC"
        if account_type not in ACCOUNT_TYPES:
            raise param_error("account_type取值错误", field="account_type")
        gz = _tar(query)
        flows = [f for f in self.core.book.flows if _same_day(f.booked_at, day)]
        if account_type != "BASIC" or not flows:
            raise V3Error("NO_STATEMENT_EXIST", "该日期无资金账单")
        content = "".join(format_fund_flow_bill(f.to_row() for f in flows)).encode("utf-8")
        return self._offer(content, gz, now)

    def _offer(self, content: bytes, gz: bool, now: datetime) -> dict[str, Any]:
        token = self.core.token(32)
        self._downloads[token] = Download(content, gz, now + URL_TTL)
        url = f"{self.core.credentials.base_url}{DOWNLOAD_PATH}?token={quote(token)}"
        if gz:
            url += "&tartype=gzip"
        digest = hashlib.sha1(content).hexdigest()  # noqa: S324 - WeChat's bill hash is SHA1
        return {"hash_type": "SHA1", "hash_value": digest, "download_url": url}

    def download(self, token: str, now: datetime) -> tuple[bytes, str]:
        """The file behind a token: (bytes, content type). Expired or unknown: 400."""
        download = self._downloads.get(token)
        if download is None or now > download.expires_at:
            raise V3Error("INVALID_REQUEST", "下载链接无效或已过期，请重新申请账单")
        if download.gzip:
            return gzip.compress(download.content, mtime=0), "application/octet-stream"
        return download.content, "text/plain; charset=utf-8"
