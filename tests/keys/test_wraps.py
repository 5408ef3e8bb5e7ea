"""Per-node wraps of a case's data key follow the case's live participants: routing is re-wrapping.

Every test runs on the real database with the real vault: a node reads a case only if its own wrap
opens with its own private key, whatever a view or a participant row may say.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from referral.kernel.errors import AccessDenied
from referral.kernel.models import Case, FormRecord, Participant
from referral.kernel.participation import end_participation
from referral.cases.reading import case_page
from referral.kernel.records import data_cell, open_values, summary_cell
from referral.context import Context
from referral.kernel.key_models import CaseKeyWrap, NodeKey
from referral.kernel.keystore import NoKeyAccess, cipher_for, current_node_key, open_cell, open_wrap, private_key
from referral.network.models import Node
from referral.vault import DecryptionFailed

from ..backends import both_backends
from ..factories import VICTIM_GIVEN
from ..units import unit_of_work
from . import (
    DETECTOR, FOCAL, LEAD, NATIONAL, activate, case_id, file_case, node_id, page, user, wraps_of,
)


def wrap_rows(ctx: Context, reference: str) -> list[CaseKeyWrap]:
    return list(ctx.session.scalars(select(CaseKeyWrap).join(Case, Case.id == CaseKeyWrap.case_id)
                                    .where(Case.reference == reference).order_by(CaseKeyWrap.id)))


def the_case(ctx: Context, reference: str) -> Case:
    case = ctx.session.scalar(select(Case).where(Case.reference == reference))
    assert case is not None
    return case


def code_of(ctx: Context, node: int) -> str:
    return str(ctx.session.scalar(select(Node.code).where(Node.id == node)))


# -- 1. filing ------------------------------------------------------------------------------------


@both_backends
def test_filing_a_ficha_wraps_the_case_key_once_for_each_participant_node_and_no_other(app: Any) -> None:
    reference = file_case(app)
    with unit_of_work(app) as ctx:
        case = the_case(ctx, reference)
        wraps = wrap_rows(ctx, reference)
        holders = Counter((code_of(ctx, w.node_id), w.key_version) for w in wraps)
        assert holders == Counter({(DETECTOR, 1): 1, (FOCAL, 1): 1, (NATIONAL, 1): 1})
        participants = {code_of(ctx, p.node_id) for p in case.participants if p.active}
        assert participants == {DETECTOR, FOCAL, NATIONAL}
        assert case.key_version == 1
        for wrap in wraps:
            node_key = ctx.session.get(NodeKey, wrap.node_key_id)
            assert node_key is not None and node_key.node_id == wrap.node_id  # sealed to that node's own key
            assert node_key.status == "active" and node_key.private_wrapped is not None
            ctx.act_as(wrap.node_id)
            cipher = open_wrap(ctx, wrap)  # really opens with that node's private key
            ficha = ctx.session.scalar(select(FormRecord).where(FormRecord.case_id == case.id))
            assert cipher.open(ficha.data, data_cell(ficha))["nombres"] == VICTIM_GIVEN


# -- 2. activation --------------------------------------------------------------------------------


def test_activating_the_case_wraps_its_key_for_the_lead_node_which_can_then_read_it(app: Any) -> None:
    reference = file_case(app)
    with pytest.raises(AccessDenied):  # before: no relation, no wrap
        page(app, "gestor.sernameg", reference)
    assert (LEAD, 1) not in wraps_of(app, reference)

    activate(app, reference, lead=LEAD)

    assert wraps_of(app, reference) == {(DETECTOR, 1), (FOCAL, 1), (NATIONAL, 1), (LEAD, 1)}
    shown = page(app, "gestor.sernameg", reference)
    assert VICTIM_GIVEN in {field.value for field in shown.header.person}
    with unit_of_work(app) as ctx:  # through SERNAMEG's own wrap and private key, not someone else's
        ctx.act_as(node_id(app, LEAD))
        case = the_case(ctx, reference)
        assert open_cell(ctx, case, case.summary, summary_cell(case))["nombres"] == VICTIM_GIVEN


# -- 3. ending a relation -------------------------------------------------------------------------


@both_backends
def test_ending_a_nodes_only_relation_deletes_its_wrap_and_its_key_opens_nothing_of_the_case(app: Any) -> None:
    reference = file_case(app)
    activate(app, reference, lead=LEAD)
    lead = node_id(app, LEAD)
    with unit_of_work(app) as ctx:
        ctx.act_as(lead)
        case = the_case(ctx, reference)
        assert cipher_for(ctx, case) is not None  # the lead node reads the case now
        assert end_participation(ctx, case, lead, "nodo_lider") is True
        ctx.session.commit()

    assert wraps_of(app, reference) == {(DETECTOR, 1), (FOCAL, 1), (NATIONAL, 1)}
    with pytest.raises(AccessDenied):  # the views refuse it ...
        page(app, "gestor.sernameg", reference)
    with unit_of_work(app) as ctx:  # ... and the vault refuses it too, called directly, bypassing open_case
        ctx.act_as(lead)
        case = the_case(ctx, reference)
        with pytest.raises(NoKeyAccess):
            cipher_for(ctx, case)
        with pytest.raises(NoKeyAccess):
            cipher_for(ctx, case, 1)
        with pytest.raises(NoKeyAccess):
            open_cell(ctx, case, case.summary, summary_cell(case))
        # SERNAMEG's own private key (it still has one: it leads other cases) opens no remaining wrap
        own = private_key(ctx, current_node_key(ctx, lead))
        remaining = wrap_rows(ctx, reference)
        assert len(remaining) == 3
        for wrap in remaining:
            with pytest.raises(DecryptionFailed):
                ctx.vault.unwrap_case_key(wrap.wrapped, case.id, wrap.key_version, own)
    for name in ("salud.rm", "coordinador.rm", "coordinacion.nacional"):  # the others still read it
        assert VICTIM_GIVEN in {field.value for field in page(app, name, reference).header.person}


@both_backends
def test_a_node_that_keeps_another_relation_keeps_its_wrap_until_the_last_one_ends(app: Any) -> None:
    reference = file_case(app)
    activate(app, reference, lead=FOCAL)  # the focal point's own node leads: two relations, one wrap
    focal = node_id(app, FOCAL)
    assert wraps_of(app, reference) == {(DETECTOR, 1), (FOCAL, 1), (NATIONAL, 1)}

    with unit_of_work(app) as ctx:
        assert end_participation(ctx, the_case(ctx, reference), focal, "nodo_lider") is True
        ctx.session.commit()
    assert (FOCAL, 1) in wraps_of(app, reference)
    assert VICTIM_GIVEN in {field.value for field in page(app, "coordinador.rm", reference).header.person}

    with unit_of_work(app) as ctx:
        assert end_participation(ctx, the_case(ctx, reference), focal, "punto_focal") is True
        ctx.session.commit()
    assert wraps_of(app, reference) == {(DETECTOR, 1), (NATIONAL, 1)}
    with unit_of_work(app) as ctx:
        ctx.act_as(focal)
        with pytest.raises(NoKeyAccess):
            cipher_for(ctx, the_case(ctx, reference))


# -- 4. moved ciphertext --------------------------------------------------------------------------


def test_a_sealed_summary_copied_into_another_case_or_column_does_not_open(app: Any) -> None:
    first, second = file_case(app), file_case(app, nombres="Marisol", apellidos="Cárdenas Ruiz")
    with unit_of_work(app) as ctx:
        ctx.act_as(node_id(app, FOCAL))  # the focal point takes part in both cases: it holds both keys
        one, two = the_case(ctx, first), the_case(ctx, second)
        assert open_cell(ctx, one, one.summary, summary_cell(one))["nombres"] == VICTIM_GIVEN
        stolen = one.summary
        ctx.session.execute(update(Case).where(Case.id == two.id).values(summary=stolen)
                            .execution_options(synchronize_session=False))
        ctx.session.commit()

    with pytest.raises(DecryptionFailed):  # what the second case's page shows is not the first person
        page(app, "coordinador.rm", second)
    with unit_of_work(app) as ctx:
        ctx.act_as(node_id(app, FOCAL))
        one, two = the_case(ctx, first), the_case(ctx, second)
        with pytest.raises(DecryptionFailed):  # the second case's own key, the second case's cell
            open_cell(ctx, two, two.summary, summary_cell(two))
        with pytest.raises(DecryptionFailed):  # the right key, but moved to another column of the same case
            ficha = ctx.session.scalar(select(FormRecord).where(FormRecord.case_id == one.id))
            cipher_for(ctx, one).open(stolen, data_cell(ficha))
        assert open_cell(ctx, one, one.summary, summary_cell(one))["nombres"] == VICTIM_GIVEN  # still opens at home
        # and a form record of the first case swapped into the second case's Ficha row does not open either
        ficha_one = ctx.session.scalar(select(FormRecord).where(FormRecord.case_id == one.id))
        ficha_two = ctx.session.scalar(select(FormRecord).where(FormRecord.case_id == two.id))
        ficha_two.data = ficha_one.data
        with pytest.raises(DecryptionFailed):
            open_values(ctx, two, ficha_two)


# -- 5. a participant row without a wrap ----------------------------------------------------------


def test_a_participant_row_added_by_tampering_gives_no_key_only_no_key_access(app: Any) -> None:
    reference = file_case(app)
    ngo = node_id(app, "LIBERA")
    with unit_of_work(app) as ctx:  # someone with write access to the database adds a relation, no wrap
        case = the_case(ctx, reference)
        ctx.session.add(Participant(case_id=case.id, node_id=ngo, relation="nodo_lider", since=ctx.now()))
        ctx.session.commit()

    with pytest.raises(NoKeyAccess):  # open_case lets the user in (a live relation), the vault does not
        page(app, "ong", reference)
    with unit_of_work(app) as ctx:
        ctx.act_as(ngo)
        case = the_case(ctx, reference)
        with pytest.raises(NoKeyAccess):
            cipher_for(ctx, case)
        with pytest.raises(NoKeyAccess):
            open_cell(ctx, case, case.summary, summary_cell(case))
        with pytest.raises(NoKeyAccess):
            case_page(ctx, user(ctx, "ong"), reference, "es")
    assert ("LIBERA", 1) not in wraps_of(app, reference)  # reading did not mint a wrap either


def test_a_wrap_deleted_by_tampering_leaves_even_a_legitimate_participant_without_the_key(app: Any) -> None:
    reference = file_case(app)
    with unit_of_work(app) as ctx:
        ctx.session.execute(delete(CaseKeyWrap).where(CaseKeyWrap.case_id == case_id(app, reference),
                                                      CaseKeyWrap.node_id == node_id(app, DETECTOR)))
        ctx.session.commit()
    with pytest.raises(NoKeyAccess):
        page(app, "salud.rm", reference)
    assert VICTIM_GIVEN in {field.value for field in page(app, "coordinador.rm", reference).header.person}
