"""Loading a plan from its YAML file (a country folder's plan file, e.g. workflows/<country>/plan_*.yaml): idempotent, by stable keys.

The plan by `key`, an institution by (plan, key), an eje by (plan, number), a línea by (eje, number), an action
by (plan, eje number, code). Loading the same file twice changes nothing; a changed file updates the rows it
names in place (progress reported stays attached to its action). Rows the file no longer names are left alone:
the Secretaría Técnica may have added them in the application.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from ..audit.service import record as audit
from ..context import Context
from . import deadlines
from .models import INDICATOR_KINDS, NUMBER, Action, Eje, Institution, Linea, Plan


class PlanFileError(ValueError):
    """The file is not a plan this loader understands; the message says where."""


def read_plan_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise PlanFileError(f"{path}: {error}") from error
    if not isinstance(data, Mapping):
        raise PlanFileError(f"{path}: the top level must be a mapping")
    return dict(data)


COUNTED_MESAS = ("nacional", "regional")


def _date(value: Any, where: str) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    raise PlanFileError(f"{where}: not a date (YYYY-MM-DD): {value!r}")


def _indicators(raw: Any, where: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for index, item in enumerate(raw or []):
        if not isinstance(item, Mapping) or item.get("kind") not in INDICATOR_KINDS or not item.get("text"):
            raise PlanFileError(f"{where}.indicators[{index}]: needs text and kind ({', '.join(INDICATOR_KINDS)})")
        indicator: dict[str, Any] = {"text": str(item["text"]).strip(), "kind": str(item["kind"])}
        counts = item.get("counts")
        if counts is not None:  # computed from the Mesa's sessions with minutes (referral/plan/reading.py)
            if (not isinstance(counts, Mapping) or counts.get("mesa") not in COUNTED_MESAS or item["kind"] != NUMBER
                    or set(counts) - {"mesa", "present"} or counts.get("present", "responsible") != "responsible"):
                raise PlanFileError(f"{where}.indicators[{index}].counts: {{mesa: nacional|regional, present: "
                                    "responsible}} on a numero indicator")
            indicator["counts"] = {str(k): str(v) for k, v in counts.items()}
        found.append(indicator)
    if not found:
        raise PlanFileError(f"{where}: an action needs at least one indicator")
    return found


class _Loader:
    def __init__(self, ctx: Context):
        self.ctx, self.changed = ctx, 0

    def _set(self, row: Any, **values: Any) -> None:
        for name, value in values.items():
            if getattr(row, name) != value:
                setattr(row, name, value)
                self.changed += 1

    def _find(self, model: Any, **keys: Any) -> Any:
        row = self.ctx.session.scalar(select(model).filter_by(**keys))
        if row is None:
            row = model(**keys)
            self.ctx.session.add(row)
            self.changed += 1
        return row

    def plan(self, data: Mapping[str, Any]) -> Plan:
        if not data.get("key") or not data.get("title"):
            raise PlanFileError("the plan needs a key and a title")
        plan = self._find(Plan, key=str(data["key"]))
        self._set(plan, title=str(data["title"]), starts_on=_date(data.get("starts_on"), "starts_on"),
                  ends_on=_date(data.get("ends_on"), "ends_on"))
        if plan.created_at is None:
            plan.created_at = self.ctx.now()
        self.ctx.session.flush()
        institutions = {key: self.institution(plan, str(key), raw)
                        for key, raw in (data.get("institutions") or {}).items()}
        for raw in data.get("ejes") or []:
            self.eje(plan, raw, institutions)
        return plan

    def institution(self, plan: Plan, key: str, raw: Mapping[str, Any]) -> Institution:
        row = self._find(Institution, plan_id=plan.id, key=key)
        self._set(row, name=str(raw["name"]), node_codes=[str(code) for code in raw.get("nodes") or []])
        self.ctx.session.flush()
        return row

    def eje(self, plan: Plan, raw: Mapping[str, Any], institutions: dict[str, Institution]) -> None:
        where = f"eje {raw.get('number')}"
        coordinator = institutions.get(str(raw.get("coordinator")))
        if raw.get("coordinator") and coordinator is None:
            raise PlanFileError(f"{where}: unknown coordinator {raw.get('coordinator')!r}")
        eje = self._find(Eje, plan_id=plan.id, number=int(raw["number"]))
        self._set(eje, title=str(raw["title"]), objective=str(raw.get("objective") or "").strip(),
                  coordinator_id=coordinator.id if coordinator else None)
        self.ctx.session.flush()
        position = 0
        for line in raw.get("lineas") or []:
            linea = self._find(Linea, eje_id=eje.id, number=int(line["number"]))
            self._set(linea, title=" ".join(str(line["title"]).split()))
            self.ctx.session.flush()
            for action in line.get("acciones") or []:
                position += 1
                self.action(plan, eje, linea, action, position, institutions, f"{where}, {action.get('code')}")

    def action(self, plan: Plan, eje: Eje, linea: Linea, raw: Mapping[str, Any], position: int,
               institutions: dict[str, Institution], where: str) -> None:
        responsible = institutions.get(str(raw.get("responsible")))
        if raw.get("responsible") and responsible is None:
            raise PlanFileError(f"{where}: unknown responsible {raw.get('responsible')!r}")
        row = self._find(Action, plan_id=plan.id, eje_number=eje.number, code=str(raw["code"]))
        self._set(row, linea_id=linea.id, position=position, description=str(raw["action"]).strip(),
                  indicators=_indicators(raw.get("indicators"), where), meta=str(raw["meta"]).strip(),
                  due_on=_date(raw.get("due_on"), f"{where}.due_on"),
                  responsible_id=responsible.id if responsible else None)


def load_plan(ctx: Context, data: Mapping[str, Any]) -> tuple[Plan, int]:
    """Create or update the plan `data` describes; (plan, how many values changed). The load is one audit
    event (the plan's key and the count). Flushes; the caller commits."""
    loader = _Loader(ctx)
    plan = loader.plan(data)
    ctx.session.flush()
    if loader.changed:
        audit(ctx, "plan.load", subject=str(plan.id), details={"plan": plan.key, "changes": loader.changed})
        deadlines.sync_plan(ctx, plan, ctx.now().astimezone(ctx.timezone).date())  # metas and the semester report
    return plan, loader.changed
