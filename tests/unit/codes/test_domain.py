"""The code format: encode/decode round trips, the keyed tag, human typing, guessing odds."""

from __future__ import annotations

import base64
import random
import secrets

import pytest
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC
from hypothesis import given, settings
from hypothesis import strategies as st

from jinli.codes import domain
from jinli.codes.domain import ALPHABET, BatchAction, BatchStatus, CodeForm, CodeKeys
from jinli.codes.errors import CodeBatchIllegalTransition, CodeMalformed, CodeNotGenuine

KEYS = CodeKeys(tag_key=b"T" * 32, lookup_key=b"K" * 32)
OTHER = CodeKeys(tag_key=b"X" * 32, lookup_key=b"K" * 32)


def _source(seed: int) -> domain.RandBytes:
    rng = random.Random(seed)
    return rng.randbytes


seeds = st.integers(min_value=0, max_value=2**32)


@given(seed=seeds, count=st.integers(1, 40))
def test_every_generated_code_parses_back_to_its_own_hash(seed: int, count: int) -> None:
    """Round trip: generate → parse recovers the stored lookup hash, for both forms."""
    chunk = domain.generate_chunk(count, KEYS, _source(seed), short=True)
    assert chunk.shorts is not None
    assert chunk.short_hashes is not None
    for code, code_hash, short, short_hash in zip(
        chunk.codes, chunk.code_hashes, chunk.shorts, chunk.short_hashes, strict=True
    ):
        assert len(code) == domain.CODE_LENGTH
        assert set(code) <= set(ALPHABET)
        assert len(short) == domain.SHORT_LENGTH
        assert set(short) <= set(ALPHABET)
        assert domain.parse(code, KEYS) == domain.ParsedCode(CodeForm.long, code, code_hash)
        assert domain.parse(short, KEYS) == domain.ParsedCode(CodeForm.short, short, short_hash)
    assert domain.generate_codes(count, KEYS, _source(seed)) == chunk.codes


@given(body=st.binary(min_size=10, max_size=10))
def test_the_bulk_tag_is_exactly_aes_cmac(body: bytes) -> None:
    """The vectorised tag equals the library's RFC 4493 CMAC of "L" ‖ random part."""
    reference = CMAC(algorithms.AES(KEYS.tag_key))
    reference.update(b"L" + body)
    code = domain.generate_codes(1, KEYS, lambda n: body)[0]
    packed = base64.b32decode(code.translate(str.maketrans(ALPHABET, domain._RFC4648)))
    assert packed == body + reference.finalize()[: domain.TAG_BYTES]


@given(records=st.lists(st.binary(min_size=15, max_size=15), min_size=1, max_size=30))
def test_column_wise_base32_equals_the_standard_encoder(records: list[bytes]) -> None:
    """``crockford_records`` is RFC 4648 base32 in Crockford's alphabet, record by record."""
    packed = b"".join(records)
    to_crockford = bytes.maketrans(domain._RFC4648.encode(), ALPHABET.encode())
    expected = base64.b32encode(packed).translate(to_crockford).decode()
    assert domain.crockford_records(packed, 15, len(records)) == expected
    assert domain.crockford_records(packed[: 10 * (len(packed) // 10)], 10, len(packed) // 10) == (
        base64.b32encode(packed[: 10 * (len(packed) // 10)]).translate(to_crockford).decode()
    )


@given(seed=seeds, data=st.data())
def test_typing_slack_is_tolerated(seed: int, data: st.DataObject) -> None:
    """Lower case, hyphens, spaces, I/L for 1 and O for 0 read as the same code."""
    code = domain.generate_codes(1, KEYS, _source(seed))[0]
    typed = []
    for ch in code:
        options = [ch, ch.lower()]
        if ch == "1":
            options += ["I", "i", "L", "l"]
        if ch == "0":
            options += ["O", "o"]
        typed.append(data.draw(st.sampled_from(options)))
        if data.draw(st.booleans()) and data.draw(st.booleans()):
            typed.append(data.draw(st.sampled_from(["-", " "])))
    assert domain.parse("".join(typed), KEYS).code == code
    assert domain.parse(domain.grouped(code), KEYS).code == code


@given(seed=seeds, position=st.integers(0, domain.CODE_LENGTH - 1), shift=st.integers(1, 31))
def test_any_single_character_change_of_a_long_code_is_rejected(
    seed: int, position: int, shift: int
) -> None:
    """A mistyped character fails the 40-bit tag (a false accept has probability 2⁻⁴⁰)."""
    code = domain.generate_codes(1, KEYS, _source(seed))[0]
    wrong = ALPHABET[(ALPHABET.index(code[position]) + shift) % 32]
    with pytest.raises(CodeNotGenuine):
        domain.parse(code[:position] + wrong + code[position + 1 :], KEYS)


@given(seed=seeds)
def test_a_code_of_another_key_is_not_genuine(seed: int) -> None:
    code = domain.generate_codes(1, OTHER, _source(seed))[0]
    with pytest.raises(CodeNotGenuine):
        domain.parse(code, KEYS)


@given(text=st.text(max_size=80))
def test_arbitrary_input_is_malformed_or_not_genuine_never_a_crash(text: str) -> None:
    with pytest.raises((CodeMalformed, CodeNotGenuine)):
        domain.parse(text, KEYS)


def test_short_form_rejects_about_999_in_1000_typos() -> None:
    """Every single-character typo of 100 short codes: the 10-bit tag lets ≈ 1/1024 through.

    Deterministic (fixed keys and seed): 46,500 typos, 45 expected through; the bound is
    generous so the test states the order of magnitude, not luck."""
    chunk = domain.generate_chunk(100, KEYS, _source(7), short=True)
    assert chunk.shorts is not None
    accepted = tried = 0
    for short in chunk.shorts:
        for position in range(domain.SHORT_LENGTH):
            for ch in ALPHABET:
                if ch == short[position]:
                    continue
                tried += 1
                try:
                    domain.parse(short[:position] + ch + short[position + 1 :], KEYS)
                    accepted += 1
                except CodeNotGenuine:
                    pass
    assert tried == 100 * 15 * 31
    assert accepted < 100


def test_retired_keys_still_verify_old_codes_and_new_codes_use_the_current_key() -> None:
    old = domain.generate_codes(1, KEYS, secrets.token_bytes)[0]
    rotated = CodeKeys(tag_key=b"N" * 32, lookup_key=b"K" * 32, retired_tag_keys=(b"T" * 32,))
    assert domain.parse(old, rotated).code == old
    new = domain.generate_codes(1, rotated, secrets.token_bytes)[0]
    with pytest.raises(CodeNotGenuine):
        domain.parse(new, KEYS)


def test_keys_must_differ_and_be_long_enough() -> None:
    with pytest.raises(ValueError, match="differ"):
        CodeKeys(tag_key=b"S" * 32, lookup_key=b"S" * 32)
    with pytest.raises(ValueError, match="128 bits"):
        CodeKeys(tag_key=b"S" * 32, lookup_key=b"short")
    with pytest.raises(ValueError, match="32 characters"):
        domain.derive_key("too short", "tag")
    assert "T" * 32 not in repr(KEYS)


@settings(max_examples=30)
@given(seed=seeds)
def test_lookup_hash_reveals_nothing_of_the_code(seed: int) -> None:
    """The stored hash depends on the lookup key: another key gives an unrelated hash."""
    chunk = domain.generate_chunk(1, KEYS, _source(seed))
    other = domain.generate_chunk(1, CodeKeys(b"T" * 32, b"Q" * 32), _source(seed))
    assert chunk.codes == other.codes
    assert chunk.code_hashes != other.code_hashes
    assert chunk.codes[0].encode() not in chunk.code_hashes[0]


def test_guessing_odds_match_the_documented_figures() -> None:
    """10⁹ active codes: a random long guess wins 7.5e-28 of the time, a short one 2.6e-14."""
    assert domain.guess_probability(10**9, CodeForm.long) == pytest.approx(7.5e-28, rel=0.01)
    assert domain.guess_probability(10**9, CodeForm.short) == pytest.approx(2.6e-14, rel=0.02)
    assert domain.expected_hits(10**6, 10**9, CodeForm.short) == pytest.approx(2.6e-8, rel=0.02)


def test_batch_transitions() -> None:
    assert domain.next_status(BatchStatus.generated, BatchAction.activate) == BatchStatus.active
    assert domain.next_status(BatchStatus.active, BatchAction.void) == BatchStatus.voided
    for status, action in [
        (BatchStatus.active, BatchAction.activate),
        (BatchStatus.voided, BatchAction.activate),
        (BatchStatus.voided, BatchAction.void),
    ]:
        with pytest.raises(CodeBatchIllegalTransition):
            domain.next_status(status, action)


def test_csv_rows_and_qr_sheet() -> None:
    chunk = domain.generate_chunk(3, KEYS, _source(1), short=True)
    assert chunk.shorts is not None
    text = domain.csv_rows(range(5, 8), chunk, "https://x.cn/s/")
    lines = text.splitlines()
    assert (
        lines[0]
        == f"5,{chunk.codes[0]},{domain.grouped(chunk.shorts[0])},https://x.cn/s/{chunk.codes[0]}"
    )
    assert len(lines) == 3
    svg = domain.qr_sheet_svg([(5, "https://x.cn/s/" + chunk.codes[0], "ABCDE")])
    assert svg.startswith("<?xml")
    assert svg.count("<svg") == 2
    assert "ABCDE" in svg
    with pytest.raises(ValueError, match="40 labels"):
        domain.qr_sheet_svg([(1, "u", "t")] * 41)
