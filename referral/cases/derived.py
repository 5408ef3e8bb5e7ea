"""What a case derives from its forms after one changed: flags, priority, the sealed summary and the
statistics' categories."""

from __future__ import annotations

from collections.abc import Mapping

from ..context import Context
from ..kernel.models import Case, FormRecord
from ..kernel.records import facts_for, open_values, summary_cell
from ..kernel.keystore import seal_cell
from ..stats.projection import project_categories


def refresh_derived(ctx: Context, case: Case, records: Mapping[str, FormRecord]) -> None:
    """Recompute the case's flags, priority and sealed summary after a form changed."""
    facts = facts_for(ctx, case, records)
    case.flags = ctx.engine.flags(facts)
    case.priority = ctx.engine.priority(case.flags)
    intake_key = ctx.definition.intake.form
    use = ctx.definition.form_uses.get(intake_key)
    record = records.get(intake_key)
    if use is not None and use.summary_fields and record is not None:
        values = open_values(ctx, case, record)
        form = ctx.definition.form(record.form_key, record.form_version)
        summary = {key: values.get(key) for key in use.summary_fields}
        case.summary = seal_cell(ctx, case, form.to_storage(summary), summary_cell(case))
    if ctx.definition.statistics.declared:
        counted = {key: facts.forms[key].values or open_values(ctx, case, records[key])
                   for key in ctx.definition.statistics.forms() if key in records}
        project_categories(ctx, case, counted, case.flags)
