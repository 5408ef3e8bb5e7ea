"""Blind indexes: the normalisers make one person's identifiers agree however they were typed, and the
keyed digests are short, deterministic under one root key, and unrelated across roots and kinds."""

from __future__ import annotations

import os

import pytest

from referral.vault import BlindIndexer, normalise_document, normalise_name
from referral.vault.blind import DIGEST_BYTES

ROOT = bytes(range(32))


@pytest.mark.parametrize(("typed", "expected"), [
    ("12.345.678-5", "123456785"),
    ("12345678-5", "123456785"),
    (" 12 345 678 5 ", "123456785"),
    ("12.345.678-K", "12345678K"),
    ("12.345.678-k", "12345678K"),
    ("12345678k", "12345678K"),
    ("ab 123 456", "AB123456"),
    ("AB-123.456", "AB123456"),
    ("ve4417829", "VE4417829"),
    ("VE 441 7829\n", "VE4417829"),
    ("ÑA123456", "NA123456"),  # accents folded, not dropped
    ("１２３４５６７８", "12345678"),  # full-width digits from a phone keyboard
    ("", ""),
    ("---", ""),
])
def test_document_numbers_are_normalised(typed: str, expected: str) -> None:
    assert normalise_document(typed) == expected


def test_the_ways_of_writing_one_rut_or_passport_give_one_value() -> None:
    assert len({normalise_document(v) for v in ("12.345.678-K", "12345678-k", "12 345 678 K", "12345678K")}) == 1
    assert len({normalise_document(v) for v in ("ab 123 456", "AB123456", "Ab-123-456")}) == 1
    assert normalise_document("12.345.678-5") != normalise_document("12.345.678-K")


@pytest.mark.parametrize(("typed", "expected"), [
    ("Pérez-Díaz, Ana", "ana diaz perez"),
    ("Ana Pérez Díaz", "ana diaz perez"),
    ("DÍAZ PÉREZ, ANA", "ana diaz perez"),
    ("  ana   díaz\tpérez ", "ana diaz perez"),
    ("Yulimar Andreína", "andreina yulimar"),
    ("Muñoz O'Higgins", "higgins munoz o"),
    ("José-María", "jose maria"),
    ("Ngô Thị Hương", "huong ngo thi"),
    ("", ""),
    ("--, .", ""),
])
def test_names_are_normalised(typed: str, expected: str) -> None:
    assert normalise_name(typed) == expected


def test_word_order_case_accents_hyphens_and_commas_do_not_change_a_name() -> None:
    spellings = ("Quintero Belandria, Yulimar", "yulimar quintero-belandria", "YULIMAR QUINTERO BELANDRIA",
                 "Belandria Quintero Yulimar", "Yulímar  Quintéro,Belandria")
    assert len({normalise_name(s) for s in spellings}) == 1
    assert normalise_name("Ana María") != normalise_name("Ana Mario")


def test_a_digest_is_sixteen_bytes_and_deterministic_for_the_same_root() -> None:
    first, again = BlindIndexer(ROOT), BlindIndexer(bytes(ROOT))
    digest = first.digest("documento", ["123456785"])
    assert len(digest) == DIGEST_BYTES == 16
    assert digest == first.digest("documento", ["123456785"]) == again.digest("documento", ["123456785"])
    assert b"123456785" not in digest


def test_another_root_gives_other_digests() -> None:
    one, other = BlindIndexer(ROOT), BlindIndexer(os.urandom(32))
    for kind, parts in (("documento", ["123456785"]), ("nombre_y_nacimiento", ["ana diaz perez", "1996-04-02"])):
        assert one.digest(kind, parts) != other.digest(kind, parts)


def test_each_kind_has_its_own_key_and_parts_are_not_simply_concatenated() -> None:
    indexer = BlindIndexer(ROOT)
    assert indexer.digest("documento", ["123456785"]) != indexer.digest("nombre_y_nacimiento", ["123456785"])
    # the separator keeps ["ab", "c"] and ["a", "bc"] apart
    assert indexer.digest("nombre_y_nacimiento", ["ana diaz", "1996-04-02"]) \
        != indexer.digest("nombre_y_nacimiento", ["ana diaz1996-04-02"])
    assert indexer.digest("nombre_y_nacimiento", ["ana diaz perez", "1996-04-02"]) \
        != indexer.digest("nombre_y_nacimiento", ["ana diaz perez", "1996-04-03"])
    assert indexer.digest("documento", ["123456785"]) != indexer.digest("documento", ["123456786"])
