"""The services' own check of submitted values: never trust that a view validated them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..choices import ChoiceProvider
from ..context import Context
from ..workflow import Text
from ..workflow.forms import FieldDef, FormDef
from ..kernel.errors import InvalidInput

UNKNOWN_CHOICE = Text("Opción no válida.", "Not a valid choice.")


def checked_values(ctx: Context, form: FormDef, values: Mapping[str, Any], *, final: bool) -> dict[str, Any]:
    """Values normalised by the form's rules; InvalidInput lists every problem by field."""
    values = form.normalise(values, ctx.local_now().date())
    _refuse(ctx, form, values, form.problems(values, ctx.local_now(), final=final))
    return values


def _refuse(ctx: Context, form: FormDef, values: Mapping[str, Any], errors: dict[str, list[Text]]) -> None:
    """Raise InvalidInput with `errors` and every value that is not among the choices offered, if any."""
    provider = ChoiceProvider(ctx.session)
    for fdef in form.fields():
        if any(True for _ in _bad_choices(provider, fdef, values.get(fdef.key))):
            errors.setdefault(fdef.key, []).append(UNKNOWN_CHOICE)
    if errors:
        raise InvalidInput(errors)


def draft_values(ctx: Context, form: FormDef, values: Mapping[str, Any]) -> dict[str, Any]:
    """What an unfinished draft may hold: anything of the right type and size, from the lists offered.
    Missing required fields and broken date or cross-field rules are accepted (sending checks them)."""
    _refuse(ctx, form, values, form.shape_problems(values))
    return {fdef.key: values[fdef.key] for fdef in form.fields() if fdef.key in values}


def _bad_choices(provider: ChoiceProvider, fdef: FieldDef, value: Any) -> Iterator[Any]:
    if value in (None, "", []):
        return
    if fdef.type == "choice" and not (isinstance(value, str) and provider.is_valid(fdef, value)):
        yield value
    elif fdef.type == "multichoice":
        items = value if isinstance(value, list) else [value]
        yield from (item for item in items if not (isinstance(item, str) and provider.is_valid(fdef, item)))
    elif fdef.type == "group":
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, Mapping):
                yield item
                continue
            for sub in fdef.fields:
                yield from _bad_choices(provider, sub, item.get(sub.key))
