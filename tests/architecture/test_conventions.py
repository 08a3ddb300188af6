"""Conventions that keep the code base navigable and safe, checked on every run."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import jinli
from jinli.kernel.errors import JinliError, all_error_classes

SRC = Path(jinli.__file__).parent
ROOT = SRC.parent.parent
CAPABILITIES = [
    "accounts",
    "ledger",
    "campaigns",
    "risk",
    "analytics",
    "payouts",
    "reconciliation",
    "codes",
    "rewards",
    "scans",
]


def _import_everything() -> None:
    for module in pkgutil.walk_packages([str(SRC)], prefix="jinli."):
        if module.name.startswith("jinli.migrations"):
            continue
        importlib.import_module(module.name)


def _error_codes() -> dict[str, type[JinliError]]:
    _import_everything()
    codes: dict[str, type[JinliError]] = {}
    for cls in all_error_classes():
        assert cls.code not in codes or codes[cls.code] is cls or _same_meaning(cls, codes), (
            f"error code {cls.code} used by {cls.__name__} and {codes[cls.code].__name__}"
        )
        codes.setdefault(cls.code, cls)
    return codes


def _same_meaning(cls: type[JinliError], codes: dict[str, type[JinliError]]) -> bool:
    return issubclass(cls, codes[cls.code]) and cls.kind == codes[cls.code].kind


def test_every_error_code_is_documented() -> None:
    """docs/errors.md lists every stable error code the domain can raise."""
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", (ROOT / "docs/errors.md").read_text(), re.M))
    codes = set(_error_codes())
    assert codes - documented == set(), "undocumented error codes"
    edge_codes = {
        "malformed_json",
        "body_too_large",
        "method_not_allowed",
        "internal_error",
        "idempotency_key_required",
        "idempotency_key_reused",
        "idempotency_key_in_flight",
    }
    assert documented - codes - edge_codes == set(), "documented codes that no longer exist"


def test_error_codes_are_snake_case() -> None:
    for code in _error_codes():
        assert re.fullmatch(r"[a-z][a-z0-9_]+", code), code


ALLOWED_BRAND_FILTERS = {"platform/db/tenancy.py", "platform/idempotency.py"}


def _is_model_brand_column(node: ast.expr) -> bool:
    """``Campaign.brand_id`` (a mapped class's column), not ``self.brand_id`` or ``x.brand_id``."""
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "brand_id"
        and isinstance(node.value, ast.Name)
        and node.value.id[:1].isupper()
    )


def test_no_inline_brand_filters_outside_the_guard() -> None:
    """Tenant scoping is structural (the session guard); an inline `.brand_id ==` in a query
    would mean someone is scoping by hand, and could forget to."""
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if rel in ALLOWED_BRAND_FILTERS or rel.startswith("migrations/"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare) and any(
                _is_model_brand_column(side) for side in (node.left, *node.comparators)
            ):
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


def test_every_capability_names_its_mission_id() -> None:
    for name in CAPABILITIES:
        doc = importlib.import_module(f"jinli.{name}").__doc__ or ""
        assert re.search(r"\(M\d+", doc), f"jinli.{name} docstring names no M-id"


def test_money_columns_are_integers() -> None:
    """C3: every *_fen column is an integer type, never float or numeric."""
    from sqlalchemy import BigInteger, Integer

    from jinli.app.models import metadata

    for table in metadata.tables.values():
        for column in table.columns:
            if column.name.endswith("_fen"):
                assert isinstance(column.type, BigInteger | Integer), f"{table.name}.{column.name}"


def test_every_console_string_is_translated() -> None:
    """Every t("…") in the templates and console views has a Chinese translation."""
    from jinli.web.i18n import ZH

    used: set[str] = set()
    for path in [*(SRC / "web/templates").rglob("*.html"), *(SRC / "web/console").rglob("*.py")]:
        used |= set(re.findall(r"""\bt\(\s*["']([^"']+)["']\s*\)""", path.read_text()))
    assert used - set(ZH) == set()
