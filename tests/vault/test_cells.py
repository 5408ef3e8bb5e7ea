"""The vault: sealed cells are bound to their row, column, case and key; keys live outside the database."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

import pytest

from referral.vault import Cell, DecryptionFailed, MasterKey, MasterKeyMissing, Vault, load_master_key


@pytest.fixture
def vault() -> Vault:
    return Vault(MasterKey(os.urandom(32)))


def test_a_sealed_value_opens_in_its_own_cell(vault: Vault) -> None:
    cipher = vault.new_case_key(uuid.uuid4())
    cell = Cell("form_records", "data", uuid.uuid4())
    value = {"nombres": "Ana María", "fecha": "1990-01-02", "lista": ["a", "b"]}
    assert cipher.open(cipher.seal(value, cell), cell) == value


def test_the_plaintext_is_not_in_the_ciphertext(vault: Vault) -> None:
    cipher = vault.new_case_key(uuid.uuid4())
    blob = cipher.seal({"nombres": "Yulimar Quintero"}, Cell("t", "c", 1))
    assert b"Yulimar" not in blob and b"Quintero" not in blob


@pytest.mark.parametrize("moved_to", [
    Cell("form_records", "data", "other-row"),
    Cell("form_records", "other_column", "row"),
    Cell("cases", "data", "row"),
], ids=["another row", "another column", "another table"])
def test_a_ciphertext_moved_to_another_cell_does_not_open(vault: Vault, moved_to: Cell) -> None:
    cipher = vault.new_case_key(uuid.uuid4())
    blob = cipher.seal("secreto", Cell("form_records", "data", "row"))
    with pytest.raises(DecryptionFailed):
        cipher.open(blob, moved_to)


def test_a_ciphertext_moved_to_another_case_does_not_open(vault: Vault) -> None:
    first = vault.new_case_key(uuid.uuid4())
    second = vault.new_case_key(uuid.uuid4())
    cell = Cell("form_records", "data", "row")
    with pytest.raises(DecryptionFailed):
        second.open(first.seal("secreto", cell), cell)


def test_a_tampered_ciphertext_does_not_open(vault: Vault) -> None:
    cipher = vault.new_case_key(uuid.uuid4())
    cell = Cell("t", "c", 1)
    blob = bytearray(cipher.seal("secreto", cell))
    blob[-1] ^= 1
    with pytest.raises(DecryptionFailed):
        cipher.open(bytes(blob), cell)


def test_lengths_are_padded_so_short_names_look_alike(vault: Vault) -> None:
    cipher = vault.new_case_key(uuid.uuid4())
    cell = Cell("t", "c", 1)
    assert len(cipher.seal("Ana", cell)) == len(cipher.seal("Maximiliana", cell))


def test_a_case_key_wrapped_for_a_node_reopens_with_that_nodes_key(vault: Vault) -> None:
    case_id = uuid.uuid4()
    cipher = vault.new_case_key(case_id)
    node = vault.new_node_key(7, 1)
    wrapped = vault.wrap_case_key(cipher, 7, 1, node.public_key)
    cell = Cell("t", "c", 1)
    opened = vault.unwrap_case_key(wrapped, case_id, 1, vault.open_node_key(node))
    assert opened.open(cipher.seal("x", cell), cell) == "x"


def test_a_case_key_wrap_copied_to_another_case_does_not_open(vault: Vault) -> None:
    cipher = vault.new_case_key(uuid.uuid4())
    node = vault.new_node_key(7, 1)
    wrapped = vault.wrap_case_key(cipher, 7, 1, node.public_key)
    with pytest.raises(DecryptionFailed):
        vault.unwrap_case_key(wrapped, uuid.uuid4(), 1, vault.open_node_key(node))


def test_a_case_key_wrap_does_not_open_with_another_nodes_key(vault: Vault) -> None:
    case_id = uuid.uuid4()
    cipher = vault.new_case_key(case_id)
    mine, other = vault.new_node_key(7, 1), vault.new_node_key(8, 1)
    wrapped = vault.wrap_case_key(cipher, 7, 1, mine.public_key)
    with pytest.raises(DecryptionFailed):
        vault.unwrap_case_key(wrapped, case_id, 1, vault.open_node_key(other))


def test_a_node_key_does_not_open_under_another_master_key(vault: Vault) -> None:
    node = vault.new_node_key(7, 1)
    with pytest.raises(MasterKeyMissing):  # not even loaded: its key id is unknown
        Vault(MasterKey(os.urandom(32))).open_node_key(node)


def test_the_master_key_comes_from_the_environment_first(tmp_path: Path) -> None:
    secret = os.urandom(32)
    key = load_master_key(base64.b64encode(secret).decode(), tmp_path / "master.key", create=False)
    assert key.key_id == MasterKey(secret).key_id
    assert not (tmp_path / "master.key").exists()


def test_the_master_key_file_is_created_once_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "instance" / "master.key"
    first = load_master_key(None, path, create=True)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_master_key(None, path, create=False).key_id == first.key_id


def test_without_a_key_and_without_permission_to_create_one_start_up_stops(tmp_path: Path) -> None:
    with pytest.raises(MasterKeyMissing, match="REFERRAL_MASTER_KEY"):
        load_master_key(None, tmp_path / "master.key", create=False)


@pytest.mark.parametrize("bad", ["not base64!!", base64.b64encode(b"short").decode()])
def test_a_malformed_master_key_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(MasterKeyMissing):
        load_master_key(bad, tmp_path / "master.key", create=False)


def test_no_key_material_in_reprs() -> None:
    secret = os.urandom(32)
    master = MasterKey(secret)
    cipher = Vault(master).new_case_key(uuid.uuid4())
    shown = repr(master) + repr(cipher)
    assert base64.b64encode(secret).decode() not in shown and secret.hex() not in shown
    assert master.key_id in repr(master)
