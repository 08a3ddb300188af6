"""Pure rules of one item, one code (一物一码): the code format, its keyed tag, the keyed lookup
hash, parsing of what a human typed, batch statuses, guessing odds, and the printer's CSV rows
and QR print sheets. No I/O; randomness is an argument (C2).

**The code** (what the QR carries, 24 Crockford base32 characters, 120 bits)::

    r   = 80 random bits from a CSPRNG (10 bytes)
    tag = AES-CMAC(tag_key, "L" ‖ r), first 40 bits (RFC 4493 / NIST SP 800-38B)
    code = crockford32(r ‖ tag)

A forged or mistyped code is rejected by recomputing the tag, without any database access. A
uniformly random 24-character guess passes the tag with probability 2⁻⁴⁰ and then hits an
issued code with probability active ÷ 2⁸⁰, so one guess wins with probability active ÷ 2¹²⁰
(10⁹ active codes: 7.5 × 10⁻²⁸). Even an attacker who somehow had the tag key would face
active ÷ 2⁸⁰ (8.3 × 10⁻¹⁶ at 10⁹ active codes), the bar of ``performance.md`` §6.2.

Why CMAC and not HMAC-SHA256: both are standard keyed MACs (PRFs) and a truncated tag of
either is a 2⁻⁴⁰ forgery bound. HMAC costs one Python call per code (≈ 1 µs, measured), which
caps generation at ≈ 0.45 of the ``os.urandom`` + base32 reference (B5); CMAC of one short block
is one AES block encryption, so a whole chunk is tagged by one AES-ECB call over the padded
blocks, bit-for-bit the library's CMAC (a property test checks this) at ≈ 7 M codes/s.

**The short form** (optional per batch, typed by hand when a QR cannot be scanned, 15 characters
printed as ``XXXXX-XXXXX-XXXXX``): 65 random bits and a 10-bit CMAC tag (of ``"S" ‖ s``). It is an
independent second code for the same item, with its own lookup hash. Guessing odds: a random
15-character guess passes the tag with probability 2⁻¹⁰ (so 99.9 % of typos and guesses are
rejected without the database) and hits an issued short code with probability active ÷ 2⁶⁵:
one guess wins with probability active ÷ 2⁷⁵. At 10⁷ active short codes that is 2.6 × 10⁻¹⁶ per
guess; at 10⁹ it is 2.6 × 10⁻¹⁴, and a guessing farm making 10⁶ guesses a day expects one hit
every 10⁵ years (better than 18 random digits, ``reliability.md`` §2.2). The scan throttles
guesses per openid, device and IP on top (I7, S3).

**At rest** the database stores neither form, only ``HMAC-SHA256(lookup_key, "L" ‖ r)`` (and
``"S" ‖ s`` for the short form) truncated to 128 bits, as the lookup key. A leak of the database
(even together with the lookup key) does not reveal a single code: HMAC cannot be inverted and
80 random bits cannot be enumerated.

**Typing**: decoding ignores case, spaces and hyphens and reads I and L as 1 and O as 0
(Crockford); U is not a code character.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from jinli.codes.errors import CodeBatchIllegalTransition, CodeMalformed, CodeNotGenuine

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford base32: digits and upper-case letters without I, L, O and U."""
_RFC4648 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TO_RFC4648 = str.maketrans(ALPHABET, _RFC4648)
_HUMAN = str.maketrans({"I": "1", "L": "1", "O": "0", "-": None, " ": None, "\t": None})
_ALPHABET_SET = frozenset(ALPHABET)

RANDOM_BYTES = 10
"""80 random bits per code (≥ 80 bits: ``performance.md`` §6.2, ``reliability.md`` I7)."""
TAG_BYTES = 5
"""40-bit tag: a random guess reaches the database with probability 2⁻⁴⁰."""
CODE_LENGTH = 24
"""(80 + 40) bits ÷ 5 bits per character; 15 bytes encode to exactly 24 characters."""
SHORT_RANDOM_BITS = 65
SHORT_TAG_BITS = 10
SHORT_LENGTH = 15
"""(65 + 10) bits ÷ 5 bits per character."""
MAX_INPUT_LENGTH = 64
"""Anything longer is refused before any work (a grouped long code is 29 characters)."""
HASH_BYTES = 16
"""Lookup hashes are HMAC-SHA256 truncated to 128 bits: no collision among 10¹² codes."""

_LONG = b"L"
_SHORT = b"S"


class CodeForm(StrEnum):
    long = "long"
    """The 24-character code in the QR (and its scan URL)."""
    short = "short"
    """The optional 15-character code printed for typing by hand."""


# --- keys and the tag --------------------------------------------------------------------------


def _dbl(block: bytes) -> bytes:
    """Doubling in GF(2¹²⁸), the CMAC subkey step (RFC 4493 §2.3)."""
    value = int.from_bytes(block, "big") << 1
    if value >> 128:
        value ^= 0x87
    return (value & ((1 << 128) - 1)).to_bytes(16, "big")


class Tagger:
    """AES-CMAC of fixed-length messages shorter than one block, many at once.

    For a message M with |M| < 16, CMAC(K, M) = AES_K((M ‖ 0x80 ‖ 0…) ⊕ K2) (RFC 4493 §2.4, one
    incomplete block), so N tags are one ECB encryption over N independent padded blocks.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) not in (16, 24, 32):
            raise ValueError("a tag key is 16, 24 or 32 bytes (AES)")
        self._algorithm = algorithms.AES(key)
        k1 = _dbl(self._encrypt(bytes(16)))
        self._k2 = _dbl(k1)

    def _encrypt(self, blocks: bytes) -> bytes:
        # ECB over independent single blocks is exactly how CMAC evaluates a one-block message;
        # nothing is "encrypted" here in the confidentiality sense.
        encryptor = Cipher(self._algorithm, modes.ECB()).encryptor()  # noqa: S305 - see above
        return encryptor.update(blocks) + encryptor.finalize()

    def macs(self, prefix: bytes, bodies: bytes, body_length: int, count: int) -> bytes:
        """The full 16-byte CMACs of ``prefix ‖ body`` for ``count`` bodies laid end to end."""
        length = len(prefix) + body_length
        if length >= 16 or len(bodies) != body_length * count:
            raise ValueError("messages must be shorter than one AES block")
        padded = bytearray(16 * count)
        for j, byte in enumerate(prefix):
            padded[j::16] = bytes((byte,)) * count
        for j in range(body_length):
            padded[len(prefix) + j :: 16] = bodies[j::body_length]
        padded[length::16] = b"\x80" * count
        mask = int.from_bytes(self._k2 * count, "big")
        blocks = (int.from_bytes(padded, "big") ^ mask).to_bytes(16 * count, "big")
        return self._encrypt(blocks)

    def mac(self, message: bytes) -> bytes:
        return self.macs(b"", message, len(message), 1)


@dataclass(frozen=True)
class CodeKeys:
    """The two secrets of the code scheme, never the same (I7).

    ``tag_key`` (AES key of the CMAC tag) lets anyone holding it mint codes that pass the check,
    so it lives only in the server's settings. ``lookup_key`` (HMAC key of the stored hash) lets
    the server find a code's row. ``retired_tag_keys`` still verify codes printed before a
    rotation; new codes always use ``tag_key``.
    """

    tag_key: bytes = field(repr=False)
    lookup_key: bytes = field(repr=False)
    retired_tag_keys: tuple[bytes, ...] = field(default=(), repr=False)
    _taggers: tuple[Tagger, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.lookup_key) < 16:
            raise ValueError("the lookup key needs at least 128 bits")
        if self.lookup_key == self.tag_key or self.tag_key in self.retired_tag_keys:
            raise ValueError("the tag key and the lookup key must differ")
        taggers = tuple(Tagger(k) for k in (self.tag_key, *self.retired_tag_keys))
        object.__setattr__(self, "_taggers", taggers)

    @property
    def tagger(self) -> Tagger:
        return self._taggers[0]

    @property
    def verifiers(self) -> tuple[Tagger, ...]:
        return self._taggers


def derive_key(secret: str, purpose: str) -> bytes:
    """A 256-bit key for ``purpose`` from a configured secret string (any length ≥ 32)."""
    if len(secret) < 32:
        raise ValueError("code secrets need at least 32 characters")
    return hmac.digest(secret.encode(), f"jinli-codes/{purpose}".encode(), "sha256")


def _lookup(keys: CodeKeys) -> Callable[[bytes, bytes], bytes]:
    base = hmac.new(keys.lookup_key, digestmod=hashlib.sha256)

    def digest(prefix: bytes, body: bytes) -> bytes:
        h = base.copy()
        h.update(prefix + body)
        return h.digest()[:HASH_BYTES]

    return digest


def lookup_hash(keys: CodeKeys, form: CodeForm, body: bytes) -> bytes:
    """What the database stores for a code: HMAC-SHA256 of its random part, 128 bits."""
    return _lookup(keys)(_LONG if form == CodeForm.long else _SHORT, body)


# --- generation ------------------------------------------------------------------------------


RandBytes = Callable[[int], bytes]
"""The CSPRNG, injected (``secrets.token_bytes`` in production)."""


@dataclass(frozen=True, slots=True)
class CodeChunk:
    """A run of freshly generated codes: plaintext for the printer, hashes for the database.

    The plaintext exists only in memory for one chunk and in the printer's export."""

    codes: list[str]
    code_hashes: list[bytes]
    shorts: list[str] | None = None
    short_hashes: list[bytes] | None = None

    def __len__(self) -> int:
        return len(self.codes)

    def slice(self, start: int, stop: int) -> CodeChunk:
        return CodeChunk(
            codes=self.codes[start:stop],
            code_hashes=self.code_hashes[start:stop],
            shorts=self.shorts[start:stop] if self.shorts is not None else None,
            short_hashes=self.short_hashes[start:stop] if self.short_hashes is not None else None,
        )

    def keep(self, wanted: Callable[[int], bool]) -> CodeChunk:
        """Only the codes at the indices ``wanted`` accepts (after a uniqueness conflict)."""
        idx = [i for i in range(len(self.codes)) if wanted(i)]
        return CodeChunk(
            codes=[self.codes[i] for i in idx],
            code_hashes=[self.code_hashes[i] for i in idx],
            shorts=[self.shorts[i] for i in idx] if self.shorts is not None else None,
            short_hashes=[self.short_hashes[i] for i in idx]
            if self.short_hashes is not None
            else None,
        )


def _table(f: Callable[[int], int]) -> bytes:
    return bytes(f(v) for v in range(256))


_SYMBOLS = bytes.maketrans(bytes(range(32)), ALPHABET.encode())
# The 8 characters of a 5-byte group, each from one or two of its bytes (RFC 4648 bit order):
# (byte, table) or ((byte, table), (byte, table)) whose results never share a bit.
_GROUP: tuple[tuple[tuple[int, bytes], ...], ...] = (
    ((0, _table(lambda v: v >> 3)),),
    ((0, _table(lambda v: (v & 0x07) << 2)), (1, _table(lambda v: v >> 6))),
    ((1, _table(lambda v: (v >> 1) & 0x1F)),),
    ((1, _table(lambda v: (v & 0x01) << 4)), (2, _table(lambda v: v >> 4))),
    ((2, _table(lambda v: (v & 0x0F) << 1)), (3, _table(lambda v: v >> 7))),
    ((3, _table(lambda v: (v >> 2) & 0x1F)),),
    ((3, _table(lambda v: (v & 0x03) << 3)), (4, _table(lambda v: v >> 5))),
    ((4, _table(lambda v: v & 0x1F)),),
)


def crockford_records(packed: bytes, width: int, count: int) -> str:
    """Crockford base32 of ``count`` records of ``width`` bytes (a multiple of 5) laid end to
    end: the same text as ``b32encode`` per record, but column by column in C (``translate``,
    strided slices and one big-integer OR per column) instead of a Python loop per 5 bytes,
    which is what makes generation faster than ``base64.b32encode`` (B5)."""
    if width % 5 or len(packed) != width * count:
        raise ValueError("records must be whole 5-byte groups")
    chars = width // 5 * 8
    out = bytearray(chars * count)
    for group in range(width // 5):
        base = group * 5
        for k, sources in enumerate(_GROUP):
            (first, table), *rest = sources
            column = packed[base + first :: width].translate(table)
            if rest:
                ((second, other),) = rest
                merged = int.from_bytes(column, "big") | int.from_bytes(
                    packed[base + second :: width].translate(other), "big"
                )
                column = merged.to_bytes(count, "big")
            out[group * 8 + k :: chars] = column
    return out.translate(_SYMBOLS).decode("ascii")


def _long_codes(count: int, keys: CodeKeys, randbytes: RandBytes) -> tuple[bytes, str]:
    """(random parts laid end to end, codes laid end to end) for ``count`` codes."""
    raw = randbytes(RANDOM_BYTES * count)
    if len(raw) != RANDOM_BYTES * count:
        raise ValueError("the random source returned the wrong number of bytes")
    macs = keys.tagger.macs(_LONG, raw, RANDOM_BYTES, count)
    width = RANDOM_BYTES + TAG_BYTES
    packed = bytearray(width * count)
    for j in range(RANDOM_BYTES):
        packed[j::width] = raw[j::RANDOM_BYTES]
    for j in range(TAG_BYTES):
        packed[RANDOM_BYTES + j :: width] = macs[j::16]
    return raw, crockford_records(bytes(packed), width, count)


def generate_codes(count: int, keys: CodeKeys, randbytes: RandBytes) -> list[str]:
    """``count`` long codes (plaintext only): the printer's half of ``generate_chunk``."""
    _, text = _long_codes(count, keys, randbytes)
    return [text[i : i + CODE_LENGTH] for i in range(0, CODE_LENGTH * count, CODE_LENGTH)]


def _short_codes(count: int, keys: CodeKeys, randbytes: RandBytes) -> tuple[list[bytes], list[str]]:
    raw = randbytes(9 * count)
    bodies = [
        (int.from_bytes(raw[i : i + 9], "big") >> 7).to_bytes(9, "big")
        for i in range(0, 9 * count, 9)
    ]
    macs = keys.tagger.macs(_SHORT, b"".join(bodies), 9, count)
    packed = b"".join(
        (
            (int.from_bytes(body, "big") << SHORT_TAG_BITS)
            | (int.from_bytes(macs[16 * i : 16 * i + 2], "big") >> 6)
        ).to_bytes(10, "big")
        for i, body in enumerate(bodies)
    )
    text = crockford_records(packed, 10, count)
    return bodies, [text[i + 1 : i + 16] for i in range(0, 16 * count, 16)]


def generate_chunk(
    count: int, keys: CodeKeys, randbytes: RandBytes, *, short: bool = False
) -> CodeChunk:
    """``count`` new codes with their lookup hashes (and short forms if asked)."""
    if count < 1:
        raise ValueError("a chunk has at least one code")
    raw, text = _long_codes(count, keys, randbytes)
    digest = _lookup(keys)
    codes = [text[i : i + CODE_LENGTH] for i in range(0, CODE_LENGTH * count, CODE_LENGTH)]
    hashes = [
        digest(_LONG, raw[i : i + RANDOM_BYTES])
        for i in range(0, RANDOM_BYTES * count, RANDOM_BYTES)
    ]
    if not short:
        return CodeChunk(codes, hashes)
    bodies, shorts = _short_codes(count, keys, randbytes)
    return CodeChunk(codes, hashes, shorts, [digest(_SHORT, b) for b in bodies])


# --- parsing what a human (or a QR reader) hands us ------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedCode:
    """A code that passed its tag: the canonical text and the hash to look it up by."""

    form: CodeForm
    code: str
    lookup_hash: bytes


def normalize(text: str) -> str:
    """Upper-case, without spaces and hyphens, I/L read as 1 and O as 0. Raises
    ``CodeMalformed`` for anything that cannot be a code (length, characters)."""
    if len(text) > MAX_INPUT_LENGTH:
        raise CodeMalformed("the code is too long")
    cleaned = text.strip().upper().translate(_HUMAN)
    if len(cleaned) not in (CODE_LENGTH, SHORT_LENGTH) or not _ALPHABET_SET.issuperset(cleaned):
        raise CodeMalformed()
    return cleaned


def parse(text: str, keys: CodeKeys) -> ParsedCode:
    """Check a code without any I/O: shape, then the keyed tag (current and retired keys).

    Raises ``CodeMalformed`` (not a code at all) or ``CodeNotGenuine`` (forged or mistyped)."""
    code = normalize(text)
    if len(code) == CODE_LENGTH:
        data = base64.b32decode(code.translate(_TO_RFC4648))
        body, tag = data[:RANDOM_BYTES], data[RANDOM_BYTES:]
        if not any(
            hmac.compare_digest(t.mac(_LONG + body)[:TAG_BYTES], tag) for t in keys.verifiers
        ):
            raise CodeNotGenuine()
        return ParsedCode(CodeForm.long, code, lookup_hash(keys, CodeForm.long, body))
    value = int.from_bytes(base64.b32decode(("0" + code).translate(_TO_RFC4648)), "big")
    body = (value >> SHORT_TAG_BITS).to_bytes(9, "big")
    tag = (value & ((1 << SHORT_TAG_BITS) - 1)).to_bytes(2, "big")
    if not any(
        hmac.compare_digest(
            (int.from_bytes(t.mac(_SHORT + body)[:2], "big") >> 6).to_bytes(2, "big"), tag
        )
        for t in keys.verifiers
    ):
        raise CodeNotGenuine()
    return ParsedCode(CodeForm.short, code, lookup_hash(keys, CodeForm.short, body))


def grouped(code: str) -> str:
    """For print and display: ``XXXX-XXXX-…`` (long) or ``XXXXX-XXXXX-XXXXX`` (short)."""
    size = 4 if len(code) == CODE_LENGTH else 5
    return "-".join(code[i : i + size] for i in range(0, len(code), size))


# --- guessing odds (I7) ------------------------------------------------------------------------


def guess_probability(active_codes: int, form: CodeForm) -> float:
    """Chance that one uniformly random guess of ``form`` is a valid active code."""
    bits = (
        RANDOM_BYTES * 8 + TAG_BYTES * 8
        if form == CodeForm.long
        else SHORT_RANDOM_BITS + SHORT_TAG_BITS
    )
    return float(active_codes) / float(2**bits)


def expected_hits(guesses: int, active_codes: int, form: CodeForm) -> float:
    """Expected number of valid codes found by ``guesses`` random guesses."""
    return guesses * guess_probability(active_codes, form)


# --- batches -------------------------------------------------------------------------------


class BatchStatus(StrEnum):
    generated = "generated"
    """Codes exist and the printer's export is ready; not shipped yet: its codes never pay."""
    active = "active"
    """Shipped to a region and a distributor: its codes can be scanned and paid."""
    voided = "voided"
    """Withdrawn (lost or stolen shipment, misprint): its codes never pay again. Terminal."""


class BatchAction(StrEnum):
    activate = "activate"
    void = "void"


TRANSITIONS: dict[BatchAction, dict[BatchStatus, BatchStatus]] = {
    BatchAction.activate: {BatchStatus.generated: BatchStatus.active},
    BatchAction.void: {
        BatchStatus.generated: BatchStatus.voided,
        BatchStatus.active: BatchStatus.voided,
    },
}
"""(action, from) → to; anything else is ``CodeBatchIllegalTransition``. An active batch is not
re-activated elsewhere: a shipment that goes to another region is voided and re-issued."""


def next_status(current: BatchStatus, action: BatchAction) -> BatchStatus:
    target = TRANSITIONS[action].get(current)
    if target is None:
        raise CodeBatchIllegalTransition(f"cannot {action} a batch that is {current}")
    return target


@dataclass(frozen=True, slots=True)
class CodeLookup:
    """What the scan needs to know about a genuine code (the scan itself is M3's next step)."""

    form: CodeForm
    serial: int
    code_hash: bytes
    """The code's own key (the full form's hash), whichever form was scanned: a claim is
    keyed by it, so the short and the full form of one code are one claim."""
    batch_id: UUID
    brand_id: UUID
    campaign_id: UUID
    batch_status: BatchStatus
    region: str | None
    distributor: str | None
    scans: int
    claimed_at: datetime | None
    first_scanned_at: datetime | None
    first_scan_region: str | None

    @property
    def payable(self) -> bool:
        """Only a code of an active batch, not yet claimed, may pay (an inactive code never
        pays, whatever else is true)."""
        return self.batch_status == BatchStatus.active and self.claimed_at is None


# --- the printer's export ----------------------------------------------------------------------


def scan_url_prefix(public_base_url: str) -> str:
    """Scan links are ``{public_base_url}/s/{code}``: short, so the QR stays small."""
    return public_base_url.rstrip("/") + "/s/"


def csv_header(short: bool) -> str:
    return "serial,code,short_code,url\n" if short else "serial,code,url\n"


def csv_rows(serials: Iterable[int], chunk: CodeChunk | Sequence[str], url_prefix: str) -> str:
    """CSV lines for the printer: serial (print order), code, short form, scan URL.

    Codes and URLs contain only ``[0-9A-Z:/._-]``, so no field needs quoting."""
    codes: Sequence[str] = chunk.codes if isinstance(chunk, CodeChunk) else chunk
    shorts = chunk.shorts if isinstance(chunk, CodeChunk) else None
    if shorts is None:
        return "".join([f"{n},{c},{url_prefix}{c}\n" for n, c in zip(serials, codes, strict=True)])
    return "".join(
        [
            f"{n},{c},{grouped(s)},{url_prefix}{c}\n"
            for n, c, s in zip(serials, codes, shorts, strict=True)
        ]
    )


@dataclass(frozen=True, slots=True)
class SheetLayout:
    """An A4 print sheet of QR labels (millimetres)."""

    columns: int = 5
    rows: int = 8
    width: float = 210.0
    height: float = 297.0
    margin: float = 10.0
    qr_size: float = 26.0

    @property
    def per_sheet(self) -> int:
        return self.columns * self.rows


def qr_sheet_svg(labels: Sequence[tuple[int, str, str]], layout: SheetLayout | None = None) -> str:
    """One SVG print sheet: for each (serial, url, printed text) a QR code of the URL (error
    correction M, 4-module quiet zone) with the text and serial under it."""
    import segno  # pure Python; imported here so parsing codes never pays for it

    layout = layout or SheetLayout()
    if len(labels) > layout.per_sheet:
        raise ValueError(f"a sheet holds {layout.per_sheet} labels")
    cell_w = (layout.width - 2 * layout.margin) / layout.columns
    cell_h = (layout.height - 2 * layout.margin) / layout.rows
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{layout.width}mm" '
        f'height="{layout.height}mm" viewBox="0 0 {layout.width} {layout.height}">\n'
    ]
    for index, (serial, url, text) in enumerate(labels):
        col, row = index % layout.columns, index // layout.columns
        x = layout.margin + col * cell_w + (cell_w - layout.qr_size) / 2
        y = layout.margin + row * cell_h + 1
        qr = segno.make(url, error="m", micro=False)
        inner = qr.svg_inline(scale=1, border=4, omitsize=True)
        inner = inner.replace(
            "<svg ",
            f'<svg x="{x:.2f}" y="{y:.2f}" width="{layout.qr_size}" height="{layout.qr_size}" ',
            1,
        )
        cx = layout.margin + col * cell_w + cell_w / 2
        ty = y + layout.qr_size + 2.6
        parts.append(inner)
        parts.append(
            f'<text x="{cx:.2f}" y="{ty:.2f}" font-family="monospace" font-size="2.3" '
            f'text-anchor="middle">{text}</text>'
            f'<text x="{cx:.2f}" y="{ty + 2.6:.2f}" font-family="monospace" font-size="1.8" '
            f'text-anchor="middle" fill="#666">#{serial}</text>\n'
        )
    parts.append("</svg>\n")
    return "".join(parts)
