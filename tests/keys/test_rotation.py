"""Key rotation (case data key, node key pair, master key) on a live database, interrupted and resumed.

A rotation works in committed batches and keeps no state of its own: the data says how far it got.
These tests stop it between two batches (the progress callback raises, as a killed process would
stop), check the application keeps serving with the mixed state, write in between, then run the same
rotation again and check that it resumes, finishes and loses nothing.
"""

from __future__ import annotations

import base64
import os
import threading
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import delete, select, text

from referral.audit.models import AuditEvent
from referral.audit.service import pseudonym, verify_log
from referral.kernel.errors import StaleCase
from referral.kernel.models import Case, CaseKey, FormRecord
from referral.cases.intake import file_intake
from referral.kernel.records import data_cell, summary_cell
from referral.cases.transitions import fire_transition
from referral.extensions import database
from referral.kernel.key_models import CaseKeyWrap, NodeKey, VaultSecret
from referral.keys.rotation import rotate_case, rotate_master, rotate_node
from referral.kernel.keystore import NoKeyAccess, open_wrap, private_key, system_cipher
from referral.vault import CaseCipher, DecryptionFailed, MasterKey, MasterKeyring, Vault

from ..backends import both_backends
from ..conftest import MASTER_KEY
from ..factories import VICTIM_GIVEN, ficha_values
from ..units import unit_of_work
from . import (
    DETECTOR, FOCAL, INFORME, LEAD, NATIONAL, PARTICIPANT_USERS, Interrupted, busy_case, case_id, case_version,
    decrypted, file_case, fire, first_format, interrupt_after, key_rows, node_id, page, same_content, save,
    sealed_versions, user, wraps_of,
)

VAULT = "referral.vault"


def units(app: Any) -> Any:
    return lambda: unit_of_work(app)


def pages(app: Any, reference: str, users: tuple[str, ...] = PARTICIPANT_USERS) -> dict[str, Any]:
    return {name: same_content(page(app, name, reference)) for name in users}


def old_data_key(app: Any, reference: str, version: int) -> bytes:
    with unit_of_work(app) as ctx:
        return system_cipher(ctx, case_id(app, reference), version)._data_key


def node_keys(app: Any, code: str) -> list[NodeKey]:
    with unit_of_work(app) as ctx:
        rows = list(ctx.session.scalars(select(NodeKey).where(NodeKey.node_id == node_id(app, code))
                                        .order_by(NodeKey.version)))
        ctx.session.expunge_all()
        return rows


def wraps_by_key(app: Any, code: str) -> dict[int, int]:
    """node key version -> how many of the node's wraps are sealed to it."""
    with unit_of_work(app) as ctx:
        rows = ctx.session.execute(select(NodeKey.version, CaseKeyWrap.id)
                                   .join(NodeKey, NodeKey.id == CaseKeyWrap.node_key_id)
                                   .where(CaseKeyWrap.node_id == node_id(app, code))).all()
    counted: dict[int, int] = {}
    for version, _wrap in rows:
        counted[version] = counted.get(version, 0) + 1
    return counted


def other_wraps(app: Any, code: str) -> set[tuple[Any, ...]]:
    """Every wrap of every other node, byte for byte."""
    with unit_of_work(app) as ctx:
        rows = ctx.session.execute(select(CaseKeyWrap.id, CaseKeyWrap.case_id, CaseKeyWrap.key_version,
                                          CaseKeyWrap.node_id, CaseKeyWrap.node_key_id, CaseKeyWrap.wrapped)
                                   .where(CaseKeyWrap.node_id != node_id(app, code))).all()
    return {tuple(row) for row in rows}


# -- 1. case data key -----------------------------------------------------------------------------


@both_backends
def test_rotating_a_case_key_reseals_every_cell_under_a_new_key_and_drops_the_old_one(app: Any) -> None:
    reference = busy_case(app)
    before_values, before_pages = decrypted(app, reference), pages(app, reference)
    assert set(sealed_versions(app, reference).values()) == {1} and len(before_values) == 6
    version = case_version(app, reference)
    old_key = old_data_key(app, reference, 1)

    lines: list[str] = []
    report = rotate_case(units(app), reference, batch=3, progress=lines.append)

    assert set(sealed_versions(app, reference).values()) == {2}
    assert key_rows(app, reference) == [(2, "active")]
    assert wraps_of(app, reference) == {(DETECTOR, 2), (FOCAL, 2), (NATIONAL, 2), (LEAD, 2)}
    assert case_version(app, reference) == version + 1  # bumped once, at the start
    with unit_of_work(app) as ctx:
        assert ctx.session.scalar(select(Case.key_version).where(Case.reference == reference)) == 2
    assert report.resealed == 6 and report.retired == [f"{reference} key v1"] and report.still_used == []
    assert f"{reference}: new data key version 2" in lines[0]
    assert decrypted(app, reference) == before_values
    for name in PARTICIPANT_USERS:  # each through its own node's new wrap
        assert pages(app, reference, (name,))[name] == before_pages[name]
    with unit_of_work(app) as ctx:  # a really new key: the old key bytes open none of the new cells
        case = ctx.session.scalar(select(Case).where(Case.reference == reference))
        stale = CaseCipher(case.id, 2, old_key)
        with pytest.raises(DecryptionFailed):
            stale.open(case.summary, summary_cell(case))
        for record in ctx.session.scalars(select(FormRecord).where(FormRecord.case_id == case.id)):
            with pytest.raises(DecryptionFailed):
                stale.open(record.data, data_cell(record))

    rotate_case(units(app), reference)  # a second rotation: version 3, same content
    assert key_rows(app, reference) == [(3, "active")] and set(sealed_versions(app, reference).values()) == {3}
    assert decrypted(app, reference) == before_values


@both_backends
def test_an_interrupted_case_rotation_keeps_serving_takes_writes_and_resumes_without_loss(app: Any) -> None:
    reference = busy_case(app)
    before = decrypted(app, reference)
    page_version = case_version(app, reference)  # a page opened before the rotation starts

    progress, lines = interrupt_after("cells re-sealed")
    with pytest.raises(Interrupted):
        rotate_case(units(app), reference, batch=1, progress=progress)

    versions = sealed_versions(app, reference)
    assert sorted(versions.values()) == [1] * 5 + [2]  # one batch of one cell committed, then the stop
    assert key_rows(app, reference) == [(1, "retiring"), (2, "active")]
    assert wraps_of(app, reference) == {(code, v) for code in (DETECTOR, FOCAL, NATIONAL, LEAD) for v in (1, 2)}
    assert decrypted(app, reference) == before
    for name in PARTICIPANT_USERS:  # every participant reads the mixed case through its own wraps
        assert VICTIM_GIVEN in {field.value for field in page(app, name, reference).header.person}

    with pytest.raises(StaleCase):  # the page from before the rotation may not write under the old key
        save(app, "gestor.sernameg", reference, "informe_social", {**INFORME, "riesgo": "alto"}, version=page_version)
    save(app, "gestor.sernameg", reference, "informe_social", {**INFORME, "riesgo": "alto"})
    during = decrypted(app, reference)
    assert during["informe_social#2"]["riesgo"] == "alto"  # each save is a new revision; the first is kept
    assert during == {**before, "informe_social#2": during["informe_social#2"]}  # nothing else changed
    assert sealed_versions(app, reference)["informe_social#2"] == 2  # written under the new version

    lines.clear()
    report = rotate_case(units(app), reference, batch=1, progress=lines.append)
    assert "resuming" in lines[0] and "version 2" in lines[0]
    assert report.still_used == [] and report.retired == [f"{reference} key v1"]
    assert set(sealed_versions(app, reference).values()) == {2}
    assert key_rows(app, reference) == [(2, "active")]
    assert wraps_of(app, reference) == {(DETECTOR, 2), (FOCAL, 2), (NATIONAL, 2), (LEAD, 2)}
    assert decrypted(app, reference) == during  # nothing lost, the in-between write included
    for name in PARTICIPANT_USERS:
        assert VICTIM_GIVEN in {field.value for field in page(app, name, reference).header.person}


def test_a_transition_fired_during_an_interrupted_case_rotation_is_kept(app: Any) -> None:
    reference = file_case(app)
    fire(app, "coordinador.rm", reference, "tomar_caso")
    fire(app, "coordinador.rm", reference, "solicitar_informacion", {"preguntas": "¿Dónde duerme hoy?"})
    progress, _lines = interrupt_after("cells re-sealed")
    with pytest.raises(Interrupted):
        rotate_case(units(app), reference, batch=1, progress=progress)
    assert set(sealed_versions(app, reference).values()) == {1, 2}

    fire(app, "salud.rm", reference, "responder_informacion", {"respuesta": "En un albergue municipal."})
    fire(app, "coordinador.rm", reference, "activar",  # a new participant: wrapped under both versions
         {"nodo_lider": str(node_id(app, LEAD)), "fundamento": "Indicadores claros."})
    assert {(LEAD, 1), (LEAD, 2)} <= wraps_of(app, reference)
    during = decrypted(app, reference)
    assert during["respuesta_informacion#1"]["respuesta"] == "En un albergue municipal."

    rotate_case(units(app), reference)
    assert decrypted(app, reference) == during
    assert wraps_of(app, reference) == {(DETECTOR, 2), (FOCAL, 2), (NATIONAL, 2), (LEAD, 2)}
    assert VICTIM_GIVEN in {field.value for field in page(app, "gestor.sernameg", reference).header.person}


# -- 2. node key pair -----------------------------------------------------------------------------


@both_backends
def test_rotating_a_node_key_moves_every_wrap_and_destroys_the_old_private_key(app: Any) -> None:
    references = [file_case(app) for _ in range(3)]
    elsewhere = file_case(app, region="CL-TA", by="salud.ta")  # a case the Metropolitana focal point is not in
    others = other_wraps(app, FOCAL)
    values = {reference: decrypted(app, reference) for reference in references}
    assert wraps_by_key(app, FOCAL) == {1: 3}

    lines: list[str] = []
    report = rotate_node(units(app), node_id(app, FOCAL), batch=2, progress=lines.append)

    old, new = node_keys(app, FOCAL)
    assert (old.version, old.status, old.private_wrapped, old.master_key_id) == (1, "retired", None, None)
    assert old.retired_at is not None
    assert (new.version, new.status) == (2, "active") and new.private_wrapped is not None
    assert wraps_by_key(app, FOCAL) == {2: 3}
    assert other_wraps(app, FOCAL) == others  # no other node's wrap was touched
    assert report.rewrapped == 3 and report.retired == [f"node {node_id(app, FOCAL)} key v1"]
    assert "new key version 2" in lines[0]
    for reference in references:
        assert decrypted(app, reference, as_node=FOCAL) == values[reference]
        for name in ("coordinador.rm", "gestor.rm"):
            assert VICTIM_GIVEN in {field.value for field in page(app, name, reference).header.person}
    assert VICTIM_GIVEN in {field.value for field in page(app, "coordinador.ta", elsewhere).header.person}
    with unit_of_work(app) as ctx:  # the old key pair is gone for good
        ctx.act_as(node_id(app, FOCAL))
        with pytest.raises(NoKeyAccess):
            private_key(ctx, ctx.session.get(NodeKey, old.id))


@both_backends
def test_an_interrupted_node_rotation_keeps_serving_wraps_new_cases_with_the_new_key_and_resumes(app: Any) -> None:
    references = [file_case(app) for _ in range(3)]
    others = other_wraps(app, FOCAL)
    focal = node_id(app, FOCAL)

    progress, lines = interrupt_after("wraps moved")
    with pytest.raises(Interrupted):
        rotate_node(units(app), focal, batch=1, progress=progress)

    old, new = node_keys(app, FOCAL)
    assert (old.status, new.status) == ("retiring", "active") and old.private_wrapped is not None
    assert wraps_by_key(app, FOCAL) == {1: 2, 2: 1}
    for reference in references:  # the focal point reads every case, through either key
        assert VICTIM_GIVEN in {field.value for field in page(app, "coordinador.rm", reference).header.person}

    # Meanwhile a new case is filed: the focal point's new wrap uses the new active key.
    newcomer = file_case(app, nombres="Marisol", apellidos="Cárdenas Ruiz")
    with unit_of_work(app) as ctx:
        wrap = ctx.session.scalar(select(CaseKeyWrap).where(CaseKeyWrap.case_id == case_id(app, newcomer),
                                                            CaseKeyWrap.node_id == focal))
        assert wrap is not None and wrap.node_key_id == new.id
    assert wraps_by_key(app, FOCAL) == {1: 2, 2: 2}

    lines.clear()
    report = rotate_node(units(app), focal, batch=1, progress=lines.append)
    assert "resuming" in lines[0]
    old, new = node_keys(app, FOCAL)
    assert (old.status, old.private_wrapped) == ("retired", None) and new.status == "active"
    assert [key.version for key in node_keys(app, FOCAL)] == [1, 2]  # resuming made no third key
    assert wraps_by_key(app, FOCAL) == {2: 4}
    assert report.retired == [f"node {focal} key v1"] and report.still_used == []
    others_now = other_wraps(app, FOCAL)
    assert {row for row in others_now if row[1] != case_id(app, newcomer)} == others
    for reference in [*references, newcomer]:
        assert page(app, "coordinador.rm", reference).header.person


# -- 3. master key --------------------------------------------------------------------------------


def master_ids(app: Any) -> tuple[set[str | None], set[str]]:
    with unit_of_work(app) as ctx:
        nodes = set(ctx.session.scalars(select(NodeKey.master_key_id).where(NodeKey.private_wrapped.is_not(None))))
        secrets = set(ctx.session.scalars(select(VaultSecret.master_key_id)))
    return nodes, secrets


@both_backends
def test_rotating_the_master_key_rewraps_everything_so_the_old_key_can_go(app: Any) -> None:
    references = [busy_case(app), file_case(app, region="CL-TA", by="salud.ta")]
    rotate_node(units(app), node_id(app, FOCAL))  # a retired node key (nothing to re-wrap) among them
    values = {reference: decrypted(app, reference) for reference in references}
    old = MasterKey(base64.b64decode(MASTER_KEY))
    assert master_ids(app) == ({old.key_id}, {old.key_id})
    with unit_of_work(app) as ctx:
        to_rewrap = len(ctx.session.scalars(select(NodeKey.id).where(NodeKey.private_wrapped.is_not(None))).all())
    assert to_rewrap >= 5

    new = MasterKey(os.urandom(32))
    app.extensions[VAULT] = Vault(MasterKeyring(new, [old]))  # the operator's restart with the new primary
    progress, lines = interrupt_after("node keys re-wrapped", times=2)
    with pytest.raises(Interrupted):
        rotate_master(units(app), batch=2, progress=progress)
    nodes, _secrets = master_ids(app)
    assert nodes == {old.key_id, new.key_id}  # half-way: both keys in use, and the application serves
    for reference in references:
        assert decrypted(app, reference) == values[reference]
    assert page(app, "coordinador.rm", references[0]).header.person

    lines.clear()
    report = rotate_master(units(app), batch=2, progress=lines.append)
    assert report.retired == [old.key_id] and report.still_used == []
    assert any("secret blind-index re-wrapped" in line for line in lines)
    assert master_ids(app) == ({new.key_id}, {new.key_id})

    app.extensions[VAULT] = Vault(new)  # the old key removed everywhere
    for reference in references:
        assert decrypted(app, reference) == values[reference]
    for name in PARTICIPANT_USERS:
        assert VICTIM_GIVEN in {field.value for field in page(app, name, references[0]).header.person}
    assert page(app, "coordinador.ta", references[1]).header.person
    filed = file_case(app)  # the blind-index secret opens under the new key alone (duplicate check)
    assert page(app, "coordinador.rm", filed).duplicates is not None


# -- 4. first-scheme case keys --------------------------------------------------------------------


def make_first_scheme(app: Any, reference: str) -> None:
    """Store the case as the first revision did: its key wrapped by the master key (no per-node wraps),
    every cell in the first format (`0x01`, no key version in the header)."""
    master = MasterKey(base64.b64decode(MASTER_KEY))
    with unit_of_work(app) as ctx:
        case = ctx.session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None
        cipher = system_cipher(ctx, case.id, 1)
        data_key = cipher._data_key
        cell = summary_cell(case)
        case.summary = first_format(data_key, case.id, cipher.open(case.summary, cell), cell)
        for record in ctx.session.scalars(select(FormRecord).where(FormRecord.case_id == case.id)):
            cell = data_cell(record)
            record.data = first_format(data_key, case.id, cipher.open(record.data, cell), cell)
        row = ctx.session.get(CaseKey, (case.id, 1))
        row.master_key_id = master.key_id
        row.wrapped = master.wrap(data_key, f"case-key|{case.id}|1|{master.key_id}".encode())
        ctx.session.execute(delete(CaseKeyWrap).where(CaseKeyWrap.case_id == case.id))
        ctx.session.commit()
    assert {blob[:1] for blob in raw_cells(app, reference)} == {b"\x01"}


def raw_cells(app: Any, reference: str) -> list[bytes]:
    with unit_of_work(app) as ctx:
        case = ctx.session.scalar(select(Case).where(Case.reference == reference))
        return [case.summary, *ctx.session.scalars(select(FormRecord.data).where(FormRecord.case_id == case.id))]


@both_backends
def test_a_first_scheme_case_key_is_converted_to_node_wraps_by_rotate_master(app: Any) -> None:
    reference = busy_case(app)
    before = decrypted(app, reference)
    make_first_scheme(app, reference)
    assert wraps_of(app, reference) == set()

    with pytest.raises(NoKeyAccess) as refused:
        page(app, "coordinador.rm", reference)
    assert "rotate-master" in str(refused.value.message.en) and "rotate-master" in str(refused.value.message.es)

    lines: list[str] = []
    report = rotate_master(units(app), progress=lines.append)
    assert any("case keys converted to per-node wraps: 1" in line for line in lines)
    assert report.still_used == []
    assert wraps_of(app, reference) == {(DETECTOR, 1), (FOCAL, 1), (NATIONAL, 1), (LEAD, 1)}
    with unit_of_work(app) as ctx:
        row = ctx.session.get(CaseKey, (case_id(app, reference), 1))
        assert row is not None and row.wrapped is None and row.master_key_id is None
    assert decrypted(app, reference) == before
    for name in PARTICIPANT_USERS:
        assert VICTIM_GIVEN in {field.value for field in page(app, name, reference).header.person}
    rotate_case(units(app), reference)  # and a case rotation moves its first-format cells to the new format
    assert {blob[:1] for blob in raw_cells(app, reference)} == {b"\x02"}
    assert set(sealed_versions(app, reference).values()) == {2} and decrypted(app, reference) == before


def test_a_first_scheme_case_under_an_old_master_key_is_converted_while_the_master_key_rotates(app: Any) -> None:
    reference = file_case(app)
    before = decrypted(app, reference)
    make_first_scheme(app, reference)
    old, new = MasterKey(base64.b64decode(MASTER_KEY)), MasterKey(os.urandom(32))
    app.extensions[VAULT] = Vault(MasterKeyring(new, [old]))
    report = rotate_master(units(app))
    assert report.retired == [old.key_id]
    app.extensions[VAULT] = Vault(new)
    assert decrypted(app, reference) == before
    assert VICTIM_GIVEN in {field.value for field in page(app, "salud.rm", reference).header.person}


# -- 5. the commands ------------------------------------------------------------------------------


def run(app: Any, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["keys", *args])


def test_the_keys_commands_report_progress_and_exit_cleanly(app: Any) -> None:
    reference = busy_case(app)
    old = MasterKey(base64.b64decode(MASTER_KEY))

    status = run(app, "status")
    assert status.exit_code == 0, status.output
    assert f"primary master key: {old.key_id}" in status.output and "case key wraps: 4" in status.output

    rotated = run(app, "rotate-case", reference.lower(), "--batch", "2")
    assert rotated.exit_code == 0, rotated.output
    assert f"{reference}: new data key version 2" in rotated.output
    assert "cells re-sealed: 2" in rotated.output and "re-sealed: 6" in rotated.output
    assert f"retired (nothing uses it any more): {reference} key v1" in rotated.output
    assert key_rows(app, reference) == [(2, "active")]

    node = run(app, "rotate-node", FOCAL, "--batch", "1")
    assert node.exit_code == 0, node.output
    assert "new key version 2" in node.output and "wraps moved to the new key: 1/1" in node.output
    assert f"node {node_id(app, FOCAL)} key v1" in node.output

    master = run(app, "rotate-master")
    assert master.exit_code == 0, master.output
    assert f"node keys to re-wrap under master {old.key_id}: 0" in master.output

    status = run(app, "status")
    assert status.exit_code == 0 and "'retired': 1" in status.output
    assert VICTIM_GIVEN in {field.value for field in page(app, "coordinador.rm", reference).header.person}

    # every key operation is an audit event: by the operator, on a node or a case pseudonym, with counts
    with unit_of_work(app) as ctx:
        case_id = ctx.session.scalar(select(Case.id).where(Case.reference == reference))
        events = ctx.session.scalars(select(AuditEvent).where(AuditEvent.action.like("keys.%"))
                                     .order_by(AuditEvent.seq)).all()
        assert [(e.action, e.actor_role) for e in events] == [
            ("keys.rotate_case", "operador"), ("keys.rotate_node", "operador"), ("keys.rotate_master", "operador")]
        assert events[0].case_pseudonym == pseudonym(ctx, case_id) and events[0].details["resealed"] == 6
        assert events[1].actor_node_id == node_id(app, FOCAL) and events[1].details["rewrapped"] == 1
        assert reference not in str([(e.details, e.subject) for e in events])
        assert verify_log(ctx.session)[1] is None


def test_the_keys_commands_resume_and_report_rotations_in_progress(app: Any) -> None:
    reference = busy_case(app)
    progress, _lines = interrupt_after("cells re-sealed")
    with pytest.raises(Interrupted):
        rotate_case(units(app), reference, batch=1, progress=progress)
    progress, _lines = interrupt_after("wraps moved")
    with pytest.raises(Interrupted):
        rotate_node(units(app), node_id(app, LEAD), batch=1, progress=progress)

    status = run(app, "status")
    assert status.exit_code == 0 and "cases with a key rotation in progress: 1" in status.output
    assert "'retiring': 1" in status.output

    resumed = run(app, "rotate-case", reference)
    assert resumed.exit_code == 0 and "resuming an interrupted rotation to version 2" in resumed.output
    resumed = run(app, "rotate-node", LEAD)
    assert resumed.exit_code == 0 and "resuming an interrupted rotation" in resumed.output
    status = run(app, "status")
    assert "cases with a key rotation in progress: 0" in status.output and "'retiring'" not in status.output


def test_the_master_key_command_converts_first_scheme_keys_and_names_keys_to_remove(app: Any) -> None:
    reference = file_case(app)
    make_first_scheme(app, reference)
    assert "case keys under the first scheme (run rotate-master to convert): 1" in run(app, "status").output
    old, new = MasterKey(base64.b64decode(MASTER_KEY)), MasterKey(os.urandom(32))
    app.extensions[VAULT] = Vault(new)  # restarted without the previous key: status says what is missing
    assert f"MISSING master key {old.key_id}: some wraps need it" in run(app, "status").output
    app.extensions[VAULT] = Vault(MasterKeyring(new, [old]))
    status = run(app, "status")
    assert f"previous master key: {old.key_id} (still used)" in status.output

    result = run(app, "rotate-master", "--batch", "1")
    assert result.exit_code == 0, result.output
    assert "case keys converted to per-node wraps: 1" in result.output
    assert f"remove these from REFERRAL_PREVIOUS_MASTER_KEYS: {old.key_id}" in result.output
    assert f"previous master key: {old.key_id} (unused: may be removed)" in run(app, "status").output
    assert VICTIM_GIVEN in {field.value for field in page(app, "coordinador.rm", reference).header.person}


@pytest.mark.parametrize("args, message", [
    (("rotate-node", "NO-SUCH-NODE"), "no node with code NO-SUCH-NODE"),
    (("rotate-case", "TP-0000-0000"), "There is no case with that reference."),
], ids=["unknown node", "unknown case"])
def test_an_unknown_node_or_case_is_refused_with_a_clear_message(app: Any, args: tuple[str, ...], message: str) -> None:
    file_case(app)
    with unit_of_work(app) as ctx:
        before = len(ctx.session.scalars(select(NodeKey.id)).all()), ctx.session.scalar(select(Case.version))
    result = run(app, *args)
    assert result.exit_code != 0
    assert message in result.output
    with unit_of_work(app) as ctx:  # and nothing was changed
        assert (len(ctx.session.scalars(select(NodeKey.id)).all()), ctx.session.scalar(select(Case.version))) == before


# -- 6. no stale key survives in a unit of work ---------------------------------------------------


def test_a_wrap_under_a_retired_node_key_cannot_be_opened(app: Any) -> None:
    reference = file_case(app)
    focal = node_id(app, FOCAL)
    with unit_of_work(app) as ctx:
        wrap = ctx.session.scalar(select(CaseKeyWrap).where(CaseKeyWrap.case_id == case_id(app, reference),
                                                            CaseKeyWrap.node_id == focal))
        ctx.session.expunge(wrap)
    rotate_node(units(app), focal)
    with unit_of_work(app) as ctx:  # the wrap as it was (say, from a backup), with the key it named
        ctx.act_as(focal)
        with pytest.raises(NoKeyAccess):
            open_wrap(ctx, wrap)



# -- 7. rotations racing a request ----------------------------------------------------------------
#
# On SQLite a writer holds the database lock until it commits, so a request and a rotation never
# interleave. On PostgreSQL they do: these tests hold a request open (flushed, not committed) while
# the operator's rotation runs in another session, then commit the request.

POSTGRES_ONLY = pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)],
                                        indirect=True)


def wait_until_blocked(app: Any) -> None:
    """Return once a session of this database waits for a lock (or after 10 s)."""
    with database.engine(app).connect() as watcher:
        for _ in range(200):
            if watcher.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                    "AND wait_event_type = 'Lock'")).scalar():
                return
            time.sleep(0.05)


@POSTGRES_ONLY
def test_a_wrap_written_by_a_request_in_flight_keeps_a_node_key_that_opens_it(app: Any) -> None:
    file_case(app)  # the focal point has its first key pair
    focal = node_id(app, FOCAL)
    outcome: dict[str, Any] = {}

    def operator() -> None:
        try:
            outcome["report"] = rotate_node(units(app), focal)
        except Exception as error:  # reported below, not lost in the thread
            outcome["error"] = error

    with unit_of_work(app) as request:  # a Ficha being filed: its wraps are flushed, not yet committed
        filed = file_intake(request, user(request, "salud.rm"), ficha_values(nombres="Marisol"), uuid.uuid4().hex)
        reference = filed.reference
        thread = threading.Thread(target=operator)  # the operator's rotation starts meanwhile
        thread.start()
        wait_until_blocked(app)  # it waits for the key the request is wrapping under
        request.session.commit()
    thread.join(60)
    assert not thread.is_alive() and "error" not in outcome, outcome
    report = outcome["report"]

    old, _new = node_keys(app, FOCAL)
    with unit_of_work(app) as ctx:
        wrap = ctx.session.scalar(select(CaseKeyWrap).where(CaseKeyWrap.case_id == case_id(app, reference),
                                                            CaseKeyWrap.node_id == focal))
        assert wrap is not None
        assert not (wrap.node_key_id == old.id and old.private_wrapped is None), (
            "BUG referral/keys/rotation.py rotate_node: the old node key was retired (private key destroyed, "
            f"report.retired={report.retired}) while a committed wrap still needs it: "
            "the focal point can no longer open this case (NoKeyAccess)")
    assert page(app, "coordinador.rm", reference).header.person


@POSTGRES_ONLY
def test_a_participant_added_while_a_case_rotation_starts_gets_the_new_key_too(app: Any) -> None:
    reference = file_case(app)
    fire(app, "coordinador.rm", reference, "tomar_caso")
    outcome: dict[str, Any] = {}

    def operator() -> None:
        try:
            outcome["report"] = rotate_case(units(app), reference)
        except Exception as error:  # reported below, not lost in the thread
            outcome["error"] = error

    with unit_of_work(app) as request:  # the activation: case row claimed, lead node added, not yet committed
        fire_transition(request, user(request, "coordinador.rm"), reference, "activar",
                        {"nodo_lider": str(node_id(app, LEAD)), "fundamento": "Indicadores claros."},
                        case_version(app, reference))
        thread = threading.Thread(target=operator)
        thread.start()
        wait_until_blocked(app)  # the rotation has started and waits for the case row
        request.session.commit()
    thread.join(60)
    assert not thread.is_alive() and "error" not in outcome, outcome
    assert outcome["report"].still_used == []
    assert (LEAD, 2) in wraps_of(app, reference), (
        "BUG referral/keys/rotation.py _start_case_rotation: the new key version is wrapped for the participants "
        "read before the case row is claimed; the lead node, committed meanwhile, got no wrap of version 2 "
        "and lost its version-1 wrap at the end of the rotation (NoKeyAccess)")
    assert page(app, "gestor.sernameg", reference).header.person


def test_rotate_master_quiet_says_nothing_when_there_is_nothing_to_do_and_reports_work_when_there_is(app: Any) -> None:
    file_case(app)
    runner = app.test_cli_runner()
    idle = runner.invoke(args=["keys", "rotate-master", "--quiet"])
    assert idle.exit_code == 0 and idle.output == ""
    new = MasterKey(os.urandom(32))
    app.extensions["referral.vault"] = Vault(MasterKeyring(new, [MasterKey(base64.b64decode(MASTER_KEY))]))
    busy = runner.invoke(args=["keys", "rotate-master", "--quiet"])
    assert busy.exit_code == 0, busy.output
    assert "node keys re-wrapped: 3/3" in busy.output, busy.output  # detector, focal point, national
    assert f"retired (nothing uses it any more): {MasterKey(base64.b64decode(MASTER_KEY)).key_id}" in busy.output
