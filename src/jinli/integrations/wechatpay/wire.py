"""Reading and writing API v3 JSON: strict field access that raises :class:`MalformedMessage`.

A reply missing a documented field is not "probably fine": the client turns it into an UNKNOWN
outcome, so it must be detected here rather than surface as a ``KeyError``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from jinli.kernel.money import Fen

from .errors import MalformedMessage

JsonObject = Mapping[str, Any]


def dumps(data: Any) -> bytes:
    """Serialise a request body: compact UTF-8 JSON. These exact bytes are signed and sent."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def loads_object(body: bytes | str, *, what: str = "reply") -> JsonObject:
    """Parse ``body`` as a JSON object (not an array, not a scalar)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedMessage(f"the {what} is not JSON") from exc
    if not isinstance(data, dict):
        raise MalformedMessage(f"the {what} is not a JSON object")
    return data


def req_str(obj: JsonObject, key: str) -> str:
    """A required string field."""
    value = obj.get(key)
    if not isinstance(value, str):
        raise MalformedMessage(f"field {key!r} is missing or not a string")
    return value


def opt_str(obj: JsonObject, key: str) -> str | None:
    """An optional string field (absent or null → None)."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedMessage(f"field {key!r} is not a string")
    return value


def req_int(obj: JsonObject, key: str) -> int:
    """A required integer field (a JSON bool is not an integer)."""
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedMessage(f"field {key!r} is missing or not an integer")
    return value


def opt_int(obj: JsonObject, key: str) -> int | None:
    """An optional integer field."""
    if obj.get(key) is None:
        return None
    return req_int(obj, key)


def req_fen(obj: JsonObject, key: str) -> Fen:
    """A required amount: v3 amounts are integers in fen."""
    return Fen(req_int(obj, key))


def opt_fen(obj: JsonObject, key: str) -> Fen | None:
    """An optional amount in fen."""
    value = opt_int(obj, key)
    return None if value is None else Fen(value)


def req_object(obj: JsonObject, key: str) -> JsonObject:
    """A required nested object."""
    value = obj.get(key)
    if not isinstance(value, dict):
        raise MalformedMessage(f"field {key!r} is missing or not an object")
    return value


def opt_list(obj: JsonObject, key: str) -> list[JsonObject]:
    """An optional list of objects (absent → empty)."""
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise MalformedMessage(f"field {key!r} is not a list of objects")
    return value
