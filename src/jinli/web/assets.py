"""Front-end libraries, fetched from the npm registry at install time (never committed).

Each asset is pinned by version and by the registry's sha512 integrity; the tarball is checked
before one file is taken out of it. Plain Python does it, so a machine with only Python 3.11
can install the console (no Node.js needed).
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REGISTRY = "https://registry.npmjs.org"
VENDOR_DIR = Path(__file__).parent / "static" / "vendor"


@dataclass(frozen=True)
class Asset:
    package: str
    version: str
    integrity: str
    member: str
    """Path of the file inside the package tarball."""
    target: str
    """File name under ``static/vendor/``."""

    @property
    def tarball_url(self) -> str:
        bare = self.package.rsplit("/", 1)[-1]
        return f"{REGISTRY}/{self.package}/-/{bare}-{self.version}.tgz"


ASSETS: tuple[Asset, ...] = (
    Asset(
        "htmx.org",
        "2.0.11",
        "sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA==",
        "package/dist/htmx.min.js",
        "htmx.min.js",
    ),
    Asset(
        "chart.js",
        "4.6.1",
        "sha512-hJyniucsFmq//EvXYvJ6c6mahPoI3kaxdjVH8awTaJ/fDNWeSqqqArixMJWkWNN6fcYvPU3HneSANFNYtRi61g==",
        "package/dist/chart.umd.min.js",
        "chart.umd.min.js",
    ),
    Asset(
        "swagger-ui-dist",
        "5.35.0",
        "sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==",
        "package/swagger-ui-bundle.js",
        "swagger-ui-bundle.js",
    ),
    Asset(
        "swagger-ui-dist",
        "5.35.0",
        "sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==",
        "package/swagger-ui.css",
        "swagger-ui.css",
    ),
    Asset(
        "@picocss/pico",
        "2.1.1",
        "sha512-kIDugA7Ps4U+2BHxiNHmvgPIQDWPDU4IeU6TNRdvXQM1uZX+FibqDQT2xUOnnO2yq/LUHcwnGlu1hvf4KfXnMg==",
        "package/css/pico.min.css",
        "pico.min.css",
    ),
)


class AssetError(RuntimeError):
    pass


def _check_integrity(asset: Asset, data: bytes) -> None:
    algo, _, expected = asset.integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algo, data).digest()).decode()
    if actual != expected:
        raise AssetError(f"{asset.package}@{asset.version}: integrity mismatch")


def _marker(asset: Asset) -> Path:
    return VENDOR_DIR / f".{asset.target}.{asset.version}"


def missing() -> list[Asset]:
    return [a for a in ASSETS if not (VENDOR_DIR / a.target).exists() or not _marker(a).exists()]


def _download(asset: Asset, timeout: float) -> bytes:
    with urllib.request.urlopen(asset.tarball_url, timeout=timeout) as response:  # noqa: S310 - fixed https registry URL
        data: bytes = response.read()
    _check_integrity(asset, data)
    return data


def fetch(assets: tuple[Asset, ...] = ASSETS, *, timeout: float = 60) -> list[str]:
    """Download, verify and unpack every missing asset; returns the names fetched.

    A tarball is downloaded once even when several files come out of it.
    """
    VENDOR_DIR.mkdir(parents=True, exist_ok=True)
    tarballs: dict[str, bytes] = {}
    fetched = []
    for asset in missing():
        if asset not in assets:
            continue
        if asset.tarball_url not in tarballs:
            tarballs[asset.tarball_url] = _download(asset, timeout)
        with tarfile.open(fileobj=io.BytesIO(tarballs[asset.tarball_url]), mode="r:gz") as tar:
            member = tar.extractfile(asset.member)
            if member is None:
                raise AssetError(f"{asset.member} not in {asset.package}@{asset.version}")
            (VENDOR_DIR / asset.target).write_bytes(member.read())
        for old in VENDOR_DIR.glob(f".{asset.target}.*"):
            old.unlink()
        _marker(asset).touch()
        fetched.append(f"{asset.package}@{asset.version}:{asset.target}")
    return fetched
