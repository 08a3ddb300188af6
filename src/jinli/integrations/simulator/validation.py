"""Field checks shared by the v3 routes, worded as WeChat words them (PARAM_ERROR)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import param_error

ALNUM = re.compile(r"[0-9A-Za-z]+\Z")


def obj(value: Any, what: str = "请求体") -> Mapping[str, Any]:
    """A JSON object, or PARAM_ERROR."""
    if not isinstance(value, dict):
        raise param_error(f"{what}必须是JSON对象")
    return value


def text(
    data: Mapping[str, Any],
    name: str,
    *,
    max_len: int,
    required: bool = True,
    pattern: re.Pattern[str] | None = None,
) -> str | None:
    """A string field of at most ``max_len`` characters (WeChat counts characters)."""
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise param_error(
                f"输入源“/body/{name}”映射到值字段“{name}”必填性规则验证失败，此字段为必填项",
                field=name,
            )
        return None
    if not isinstance(value, str):
        raise param_error(f"字段{name}类型错误，应为字符串", field=name)
    if len(value) > max_len:
        raise param_error(f"字段{name}长度超过{max_len}", field=name)
    if pattern is not None and not pattern.match(value):
        raise param_error(f"字段{name}格式错误", field=name)
    return value


def req_text(
    data: Mapping[str, Any], name: str, *, max_len: int, pattern: re.Pattern[str] | None = None
) -> str:
    """A required string field."""
    value = text(data, name, max_len=max_len, pattern=pattern)
    assert value is not None  # noqa: S101 - text() raises when a required field is missing
    return value


def integer(data: Mapping[str, Any], name: str) -> int:
    """A required positive integer (a JSON bool is not one)."""
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise param_error(f"字段{name}必须是整数", field=name)
    if value <= 0:
        raise param_error(f"字段{name}必须大于0", field=name)
    return value
