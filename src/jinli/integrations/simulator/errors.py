"""How the simulator refuses a request, in WeChat's two error models.

- API v3: an HTTP status and ``{"code", "message", "detail"?}`` (wechat-pay.md §3.5). The
  status of each code comes from the shared table in
  :data:`jinli.integrations.wechatpay.outcomes.V3_ERROR_CODES`, so the simulator and the
  client cannot disagree on it.
- API v2: HTTP 200 with ``err_code``/``err_code_des`` (wechat-pay.md §2.5).
"""

from __future__ import annotations

from typing import Any

from jinli.integrations.wechatpay.outcomes import V3_ERROR_CODES


class V3Error(Exception):
    """A v3 error reply. ``status`` defaults to the documented status of ``code``."""

    def __init__(
        self, code: str, message: str, *, status: int | None = None, detail: Any = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        rule = V3_ERROR_CODES.get(code)
        self.status = status if status is not None else (rule.http_status if rule else 400) or 400
        self.code = code
        self.message = message
        self.detail = detail

    def body(self) -> dict[str, Any]:
        """The JSON body WeChat sends."""
        data: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            data["detail"] = self.detail
        return data


def param_error(message: str, *, field: str | None = None) -> V3Error:
    """400 PARAM_ERROR, optionally naming the field as WeChat's ``detail`` does."""
    detail = {"field": field, "location": "body"} if field else None
    return V3Error("PARAM_ERROR", message, detail=detail)


def invalid_request(message: str) -> V3Error:
    """400 INVALID_REQUEST: a business rule refused the request."""
    return V3Error("INVALID_REQUEST", message)


class V2Error(Exception):
    """A v2 business error: ``err_code`` and its human text ``err_code_des``."""

    def __init__(self, err_code: str, description: str) -> None:
        super().__init__(f"{err_code}: {description}")
        self.err_code = err_code
        self.description = description
