"""Steps shared by the key tests: the services called as the views call them, one committed unit of work
per step, on the real database with the real vault (nothing mocked).

A Metropolitana case filed by salud.rm has three participant nodes from the start: MINSAL-CL-RM
(nodo_detector), CAVD-CL-RM (punto_focal; coordinador.rm and gestor.rm) and PAV
(coordinacion_nacional; coordinacion.nacional). Activating it with SERNAMEG as lead node adds a
fourth (gestor.sernameg).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask
from sqlalchemy import select

from referral.kernel.models import Case, CaseKey, FormRecord
from referral.cases.reading import CasePage, case_page
from referral.kernel.records import open_values, summary_cell
from referral.kernel.key_models import CaseKeyWrap
from referral.kernel.keystore import open_cell
from referral.network.models import Node
from referral.vault import Cell, sealed_version

from ..steps import (  # noqa: F401  (the key tests take these steps from this package)
    activate, case_id, case_version, file_case, fire, node_id, save, user,
)
from ..units import unit_of_work

DETECTOR, FOCAL, NATIONAL = "MINSAL-CL-RM", "CAVD-CL-RM", "PAV"
from ..steps import LEAD  # noqa: E402,F401
# one user of each participant node of an activated case (see the module docstring)
PARTICIPANT_USERS = ("salud.rm", "coordinador.rm", "coordinacion.nacional", "gestor.sernameg")
INFORME = {"redes_apoyo": "Una prima en Puente Alto.", "opinion_persona": "Quiere quedarse en Santiago."}


class Interrupted(Exception):
    """What a killed process looks like to a rotation: it stops between two committed batches."""


def interrupt_after(marker: str, times: int = 1) -> tuple[Callable[[str], None], list[str]]:
    """A progress callback that records every line and raises Interrupted at the `times`-th line
    containing `marker` (rotation commands report each committed batch with such a line)."""
    lines: list[str] = []

    def progress(line: str) -> None:
        lines.append(line)
        if sum(marker in seen for seen in lines) >= times:
            raise Interrupted(line)

    return progress, lines


def busy_case(app: Flask, **ficha_changes: Any) -> str:
    """An activated case with many sealed cells: the Ficha, the summary, a question and its answer,
    the activation decision and a draft Informe Social (six cells)."""
    reference = file_case(app, **ficha_changes)
    fire(app, "coordinador.rm", reference, "tomar_caso")
    fire(app, "coordinador.rm", reference, "solicitar_informacion", {"preguntas": "¿Tiene dónde dormir hoy?"})
    fire(app, "salud.rm", reference, "responder_informacion", {"respuesta": "Sí, en un albergue municipal."})
    fire(app, "coordinador.rm", reference, "activar",
         {"nodo_lider": str(node_id(app, LEAD)), "fundamento": "Indicadores claros de captación."})
    fire(app, "gestor.sernameg", reference, "iniciar_informe")
    save(app, "gestor.sernameg", reference, "informe_social", INFORME)
    return reference


def page(app: Flask, by: str, reference: str) -> CasePage:
    """The case page as `by` sees it (decrypted through that user's node's own wrap)."""
    with unit_of_work(app) as ctx:
        return case_page(ctx, user(ctx, by), reference, "en")


def same_content(shown: CasePage) -> CasePage:
    """A page without its case version (rotation bumps it; nothing else may change)."""
    return replace(shown, version=0)


def decrypted(app: Flask, reference: str, as_node: str = NATIONAL) -> dict[str, Any]:
    """Every sealed cell of the case, opened through `as_node`'s wrap: records by (form, revision)."""
    with unit_of_work(app) as ctx:
        case = ctx.session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None
        ctx.act_as(ctx.session.scalar(select(Node.id).where(Node.code == as_node)))
        found: dict[str, Any] = {"summary": open_cell(ctx, case, case.summary, summary_cell(case))}
        for record in ctx.session.scalars(select(FormRecord).where(FormRecord.case_id == case.id)):
            found[f"{record.form_key}#{record.revision}"] = open_values(ctx, case, record)
        return found


def sealed_versions(app: Flask, reference: str) -> dict[str, int]:
    """The key version each sealed cell of the case names in its header."""
    with unit_of_work(app) as ctx:
        case = ctx.session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None and case.summary is not None
        found = {"summary": sealed_version(case.summary)}
        for record in ctx.session.scalars(select(FormRecord).where(FormRecord.case_id == case.id)):
            found[f"{record.form_key}#{record.revision}"] = sealed_version(record.data)
        return found


def key_rows(app: Flask, reference: str) -> list[tuple[int, str]]:
    """(version, status) of the case's data keys."""
    with unit_of_work(app) as ctx:
        rows = ctx.session.execute(select(CaseKey.version, CaseKey.status).join(Case, Case.id == CaseKey.case_id)
                                   .where(Case.reference == reference).order_by(CaseKey.version)).all()
        return [(version, status) for version, status in rows]


def wraps_of(app: Flask, reference: str) -> set[tuple[str, int]]:
    """(node code, case key version) of every wrap of the case's data key."""
    with unit_of_work(app) as ctx:
        rows = ctx.session.execute(
            select(Node.code, CaseKeyWrap.key_version).join(Node, Node.id == CaseKeyWrap.node_id)
            .join(Case, Case.id == CaseKeyWrap.case_id).where(Case.reference == reference)).all()
        return {(code, version) for code, version in rows}


def first_format(data_key: bytes, for_case: uuid.UUID, value: object, cell: Cell) -> bytes:
    """A cell as the first revision of the vault sealed it: `0x01 ‖ nonce ‖ AES-256-GCM`, key version 1
    implied (no version in the header), same associated data and padding as today."""
    plain = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    plain += b" " * (-len(plain) % 32)
    nonce = os.urandom(12)
    associated = f"v1|{cell.table}|{cell.column}|{cell.row}|{for_case}|1".encode()
    return b"\x01" + nonce + AESGCM(data_key).encrypt(nonce, plain, associated)
