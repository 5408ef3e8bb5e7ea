"""HPKE wraps of case keys are bound to what they are for; the master keyring rotates; cells name their key
version in their header. Real cryptography, no database."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

import pytest
from referral.vault import (
    CaseCipher, Cell, DecryptionFailed, MasterKey, MasterKeyMissing, MasterKeyring, NodePrivateKey, Vault,
    load_master_keyring, sealed_version,
)

from ..keys import first_format

CELL = Cell("form_records", "data", "0b0e7c1e-row")


def new_master() -> MasterKey:
    return MasterKey(os.urandom(32))


# -- HPKE wraps -----------------------------------------------------------------------------------


@pytest.mark.parametrize("changed", ["case id", "case key version", "node id", "node key version"])
def test_a_case_key_wrap_opens_only_for_the_case_version_node_and_node_key_it_was_made_for(changed: str) -> None:
    vault = Vault(new_master())
    case_id = uuid.uuid4()
    cipher = vault.new_case_key(case_id, 3)
    stored = vault.new_node_key(7, 2)
    wrapped = vault.wrap_case_key(cipher, 7, 2, stored.public_key)
    own = vault.open_node_key(stored)
    sealed = cipher.seal({"nombres": "Ana"}, CELL)
    assert vault.unwrap_case_key(wrapped, case_id, 3, own).open(sealed, CELL) == {"nombres": "Ana"}

    # The same X25519 private key every time: only the bound context differs.
    raw_key = own._key
    target_case, version, node_key = case_id, 3, own
    if changed == "case id":
        target_case = uuid.uuid4()
    elif changed == "case key version":
        version = 4
    elif changed == "node id":
        node_key = NodePrivateKey(8, 2, raw_key)
    else:
        node_key = NodePrivateKey(7, 3, raw_key)
    with pytest.raises(DecryptionFailed):
        vault.unwrap_case_key(wrapped, target_case, version, node_key)


def test_a_tampered_wrap_does_not_open() -> None:
    vault = Vault(new_master())
    case_id = uuid.uuid4()
    stored = vault.new_node_key(7, 1)
    wrapped = bytearray(vault.wrap_case_key(vault.new_case_key(case_id), 7, 1, stored.public_key))
    wrapped[-1] ^= 1
    with pytest.raises(DecryptionFailed):
        vault.unwrap_case_key(bytes(wrapped), case_id, 1, vault.open_node_key(stored))


def test_two_nodes_wraps_of_one_case_key_open_to_the_same_key_and_not_to_each_other() -> None:
    vault = Vault(new_master())
    case_id = uuid.uuid4()
    cipher = vault.new_case_key(case_id)
    first, second = vault.new_node_key(1, 1), vault.new_node_key(2, 1)
    for_first = vault.wrap_case_key(cipher, 1, 1, first.public_key)
    for_second = vault.wrap_case_key(cipher, 2, 1, second.public_key)
    assert for_first != for_second  # each wrap is its own HPKE encapsulation
    sealed = cipher.seal("secreto", CELL)
    assert vault.unwrap_case_key(for_first, case_id, 1, vault.open_node_key(first)).open(sealed, CELL) == "secreto"
    assert vault.unwrap_case_key(for_second, case_id, 1, vault.open_node_key(second)).open(sealed, CELL) == "secreto"
    with pytest.raises(DecryptionFailed):  # node 1's key, told it is node 2: still not its wrap
        vault.unwrap_case_key(for_second, case_id, 1, NodePrivateKey(2, 1, vault.open_node_key(first)._key))


# -- the master keyring ---------------------------------------------------------------------------


def test_a_keyring_opens_what_a_previous_key_wrapped_and_wraps_anew_under_its_primary() -> None:
    old, new = new_master(), new_master()
    before = Vault(old)
    node = before.new_node_key(7, 1)
    wrapped_secret, secret_master, secret = before.new_secret("blind-index")
    assert node.master_key_id == secret_master == old.key_id

    ring = MasterKeyring(new, [old])
    assert ring.key_id == new.key_id and ring.previous_ids == [old.key_id]
    during = Vault(ring)
    opened = during.open_node_key(node)  # an old wrap opens with the previous key
    assert during.open_secret("blind-index", wrapped_secret, secret_master) == secret
    assert during.new_node_key(8, 1).master_key_id == new.key_id  # new wraps use the primary
    rewrapped = during.rewrap_node_key(node)
    assert rewrapped.master_key_id == new.key_id and rewrapped.public_key == node.public_key
    secret_again, secret_master_again = during.rewrap_secret("blind-index", wrapped_secret, secret_master)
    assert secret_master_again == new.key_id

    after = Vault(new)  # the old key is gone: what was re-wrapped still opens, to the same key
    case_id = uuid.uuid4()
    cipher = after.new_case_key(case_id)
    wrap = after.wrap_case_key(cipher, 7, 1, node.public_key)
    sealed = cipher.seal("x", CELL)
    assert after.unwrap_case_key(wrap, case_id, 1, after.open_node_key(rewrapped)).open(sealed, CELL) == "x"
    assert after.unwrap_case_key(wrap, case_id, 1, opened).open(sealed, CELL) == "x"
    assert after.open_secret("blind-index", secret_again, secret_master_again) == secret
    with pytest.raises(MasterKeyMissing):  # what was not re-wrapped no longer opens
        after.open_node_key(node)


def test_a_wrap_names_its_master_key_and_does_not_open_under_another_one() -> None:
    old, new = new_master(), new_master()
    node = Vault(old).new_node_key(7, 1)
    forged = type(node)(node.node_id, node.version, node.public_key, node.private_wrapped, new.key_id)
    with pytest.raises(DecryptionFailed):  # told it is under the new key: AES-GCM refuses it
        Vault(MasterKeyring(new, [old])).open_node_key(forged)


def test_a_master_key_id_that_is_not_loaded_gives_master_key_missing() -> None:
    old, new, absent = new_master(), new_master(), new_master()
    ring = MasterKeyring(new, [old])
    blob = absent.wrap(b"k" * 32, b"context")
    with pytest.raises(MasterKeyMissing, match=absent.key_id):
        ring.unwrap(blob, b"context", absent.key_id)
    with pytest.raises(MasterKeyMissing, match="REFERRAL_PREVIOUS_MASTER_KEYS"):
        Vault(ring).open_node_key(Vault(absent).new_node_key(7, 1))
    assert ring.unwrap(old.wrap(b"k" * 32, b"context"), b"context", old.key_id) == b"k" * 32


def test_previous_master_keys_load_from_the_environment_or_the_file(tmp_path: Path) -> None:
    secrets = [os.urandom(32) for _ in range(3)]
    texts = [base64.b64encode(s).decode() for s in secrets]
    ids = [MasterKey(s).key_id for s in secrets]
    ring = load_master_keyring(texts[0], tmp_path / "master.key", f"{texts[1]}, {texts[2]}",
                               tmp_path / "previous", create=False)
    assert ring.key_id == ids[0] and sorted(ring.previous_ids) == sorted(ids[1:])
    (tmp_path / "previous").write_text(f"{texts[2]}\n")
    ring = load_master_keyring(texts[0], tmp_path / "master.key", None, tmp_path / "previous", create=False)
    assert ring.previous_ids == [ids[2]]
    with pytest.raises(MasterKeyMissing):
        load_master_keyring(texts[0], tmp_path / "master.key", "not-base64!", tmp_path / "previous", create=False)


# -- key versions in cell headers -----------------------------------------------------------------


def test_a_cell_sealed_under_version_2_names_it_and_does_not_open_with_the_version_1_cipher() -> None:
    case_id, data_key = uuid.uuid4(), os.urandom(32)
    second = CaseCipher(case_id, 2, data_key)
    blob = second.seal({"nombres": "Ana"}, CELL)
    assert blob[:1] == b"\x02" and sealed_version(blob) == 2
    assert second.open(blob, CELL) == {"nombres": "Ana"}
    first = CaseCipher(case_id, 1, data_key)  # even with the very same key bytes
    with pytest.raises(DecryptionFailed):
        first.open(blob, CELL)
    relabelled = b"\x02" + (1).to_bytes(4, "big") + blob[5:]  # the header edited to say version 1
    assert sealed_version(relabelled) == 1
    with pytest.raises(DecryptionFailed):  # the version is bound into the associated data too
        first.open(relabelled, CELL)
    with pytest.raises(DecryptionFailed):
        CaseCipher(case_id, 2, os.urandom(32)).open(blob, CELL)  # another key of version 2


def test_a_first_format_cell_reports_version_1_and_still_opens() -> None:
    case_id, data_key = uuid.uuid4(), os.urandom(32)
    blob = first_format(data_key, case_id, {"nombres": "Ana María"}, CELL)
    assert sealed_version(blob) == 1
    assert CaseCipher(case_id, 1, data_key).open(blob, CELL) == {"nombres": "Ana María"}
    with pytest.raises(DecryptionFailed):
        CaseCipher(case_id, 2, data_key).open(blob, CELL)
    with pytest.raises(DecryptionFailed):
        CaseCipher(case_id, 1, data_key).open(blob, Cell("form_records", "data", "another-row"))


@pytest.mark.parametrize("blob", [b"", b"\x03abcdef", b"\x02\x00\x00"], ids=["empty", "unknown format", "truncated"])
def test_an_unknown_cell_header_is_refused(blob: bytes) -> None:
    with pytest.raises(DecryptionFailed):
        sealed_version(blob)
