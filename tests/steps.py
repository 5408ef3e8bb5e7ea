"""Case steps shared by test packages: the services called as the views call them, one committed unit
of work per step, on the real database with the real vault (nothing mocked)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask
from sqlalchemy import select

from referral.auth.models import User
from referral.cases.editing import save_form
from referral.cases.intake import file_intake
from referral.kernel.models import Case
from referral.cases.transitions import fire_transition
from referral.network.models import Node

from .factories import ficha_values
from .units import unit_of_work

LEAD = "SERNAMEG"  # the lead node activate() names unless told otherwise


def user(ctx: Any, name: str) -> User:
    found = ctx.session.scalar(select(User).where(User.email == f"{name}@demo.cl"))
    assert found is not None, name
    return found


def node_id(app: Flask, code: str) -> int:
    with unit_of_work(app) as ctx:
        found = ctx.session.scalar(select(Node.id).where(Node.code == code))
    assert found is not None, code
    return found


def case_id(app: Flask, reference: str) -> uuid.UUID:
    with unit_of_work(app) as ctx:
        found = ctx.session.scalar(select(Case.id).where(Case.reference == reference))
    assert found is not None, reference
    return found


def case_version(app: Flask, reference: str) -> int:
    with unit_of_work(app) as ctx:
        return int(ctx.session.scalar(select(Case.version).where(Case.reference == reference)))


def file_case(app: Flask, by: str = "salud.rm", **ficha_changes: Any) -> str:
    with unit_of_work(app) as ctx:
        case = file_intake(ctx, user(ctx, by), ficha_values(**ficha_changes), uuid.uuid4().hex)
        reference = case.reference
        ctx.session.commit()
    return reference


def fire(app: Flask, by: str, reference: str, action: str, values: dict[str, Any] | None = None,
         version: int | None = None) -> None:
    expected = case_version(app, reference) if version is None else version
    with unit_of_work(app) as ctx:
        fire_transition(ctx, user(ctx, by), reference, action, values, expected)
        ctx.session.commit()


def save(app: Flask, by: str, reference: str, form_key: str, values: dict[str, Any],
         version: int | None = None) -> None:
    expected = case_version(app, reference) if version is None else version
    with unit_of_work(app) as ctx:
        save_form(ctx, user(ctx, by), reference, form_key, values, expected)
        ctx.session.commit()


def activate(app: Flask, reference: str, lead: str = LEAD) -> None:
    """The focal point takes the case and activates it with `lead` as lead node (adds nodo_lider)."""
    fire(app, "coordinador.rm", reference, "tomar_caso")
    fire(app, "coordinador.rm", reference, "activar",
         {"nodo_lider": str(node_id(app, lead)), "fundamento": "Indicadores claros de captación."})
