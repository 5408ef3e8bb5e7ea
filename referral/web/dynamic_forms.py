"""WTForms classes built from form definitions, and the layout a template walks to render them.

WTForms parses what was typed (dates, numbers, choices) and keeps it for re-display; the required
fields and cross-field rules are checked by the services (referral/cases/validation.py) so that one
set of rules serves the web, the demo loader and any future API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField, DateField, DateTimeLocalField, FieldList, Form, FormField, HiddenField, IntegerField,
    RadioField, SelectChoice, SelectField, SelectMultipleField, StringField, TextAreaField,
)
from wtforms.validators import Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ..choices import ChoiceProvider
from ..workflow import Text
from ..workflow.forms import FieldDef, FormDef

REMOVE_KEY = "quitar_fila"  # WTForms ignores attributes starting with "_"
PLACEHOLDER = Text("— Seleccione —", "— Select —")


class OptionalRadioField(RadioField):
    """A radio group that may be left unanswered in a draft; required-ness is the service's call."""

    def pre_validate(self, form: Any) -> None:
        if self.data in (None, "", "None"):
            self.data = None
            return
        super().pre_validate(form)


class OptionalSelectField(SelectField):
    """A select that may be left on its placeholder (or not sent at all)."""

    def pre_validate(self, form: Any) -> None:
        if self.data in (None, ""):
            self.data = None
            return
        super().pre_validate(form)


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class TextField(StringField):
    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        self.data = (self.data or "").strip()


class LongTextField(TextAreaField):
    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        self.data = (self.data or "").strip()


def _make_field(fdef: FieldDef, provider: ChoiceProvider, language: str, region: str | None) -> Any:
    label = fdef.label.get(language)
    description = fdef.help.get(language) if fdef.help else ""
    common: dict[str, Any] = {"label": label, "description": description}
    if fdef.type == "text":
        return TextField(validators=[Optional(), Length(max=fdef.max_length or 500)], **common)
    if fdef.type == "textarea":
        return LongTextField(validators=[Optional(), Length(max=fdef.max_length or 10000)], **common)
    if fdef.type == "integer":
        bounds = NumberRange(min=fdef.minimum, max=fdef.maximum)
        return IntegerField(validators=[Optional(), bounds], **common)
    if fdef.type == "boolean":
        return BooleanField(**common)
    if fdef.type == "date":
        return DateField(validators=[Optional()], format="%Y-%m-%d", **common)
    if fdef.type == "datetime":
        return DateTimeLocalField(validators=[Optional()], format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"], **common)
    options = [SelectChoice(value, label, optgroup=group) for value, label, group in provider.options(fdef, region)]
    if fdef.type == "multichoice":
        return CheckboxesField(choices=options, validators=[Optional()], **common)
    if fdef.widget == "radio":
        return OptionalRadioField(choices=options, validators=[Optional()], **common)
    return OptionalSelectField(choices=[SelectChoice("", PLACEHOLDER.get(language)), *options], **common)


def _group_class(fdef: FieldDef, provider: ChoiceProvider, language: str, region: str | None) -> type[Form]:
    attrs = {sub.key: _make_field(sub, provider, language, region) for sub in fdef.fields}
    attrs[REMOVE_KEY] = BooleanField(Text("Quitar esta fila", "Remove this row").get(language))
    return type(f"Group_{fdef.key}", (Form,), attrs)


def build_form_class(form: FormDef, provider: ChoiceProvider, language: str, *, region: str | None = None,
                     hidden: tuple[str, ...] = ()) -> type[FlaskForm]:
    """A FlaskForm class (with CSRF) for `form`, plus the hidden fields named in `hidden`."""
    attrs: dict[str, Any] = {name: HiddenField() for name in hidden}
    for fdef in form.fields():
        if fdef.type == "group":
            attrs[fdef.key] = FieldList(
                FormField(_group_class(fdef, provider, language, region)),
                label=fdef.label.get(language), min_entries=max(1, fdef.min_items),
            )
        else:
            attrs[fdef.key] = _make_field(fdef, provider, language, region)
    return type(f"Form_{form.key}_v{form.version}", (FlaskForm,), attrs)


def _clean(fdef: FieldDef, value: Any) -> Any:
    if fdef.type in ("text", "textarea", "choice"):
        return value or None
    if fdef.type == "multichoice":
        return list(value or [])
    if fdef.type == "boolean":
        return bool(value)
    return value


def values_of(form: FormDef, wtform: FlaskForm) -> dict[str, Any]:
    """The typed values as plain data; empty group rows and rows marked for removal are dropped."""
    values: dict[str, Any] = {}
    for fdef in form.fields():
        bound = wtform[fdef.key]
        if fdef.type != "group":
            values[fdef.key] = _clean(fdef, bound.data)
            continue
        items = []
        for entry in bound.entries:
            data = entry.form.data
            if data.get(REMOVE_KEY):
                continue
            item = {sub.key: _clean(sub, data.get(sub.key)) for sub in fdef.fields}
            if any(v not in (None, "", [], False) for v in item.values()):
                items.append(item)
        values[fdef.key] = items
    return values


def initial_data(form: FormDef, values: Mapping[str, Any]) -> dict[str, Any]:
    """Stored values shaped for WTForms' `data=` (groups as lists of dicts)."""
    return {f.key: values.get(f.key) for f in form.fields() if values.get(f.key) is not None}


def add_row_requested(form: FormDef, formdata: Mapping[str, Any]) -> str | None:
    """The group whose «add a row» button was pressed, if any."""
    for fdef in form.fields():
        if fdef.type == "group" and f"agregar-{fdef.key}" in formdata:
            return fdef.key
    return None


@dataclass
class FieldSlot:
    key: str
    bound: Any
    kind: str
    required: bool
    errors: list[str] = field(default_factory=list)
    rows: list[list[FieldSlot]] = field(default_factory=list)
    remove: list[Any] = field(default_factory=list)  # the remove checkbox of each row


@dataclass
class SectionSlot:
    label: str
    help: str
    fields: list[FieldSlot]


def layout(form: FormDef, wtform: FlaskForm, errors: Mapping[str, list[Text]], language: str) -> list[SectionSlot]:
    """Sections and fields in definition order, each with its messages in the user's language."""
    def messages(key: str, bound: Any) -> list[str]:
        # WTForms may stack a parse error and a range error for one value: the first says it all.
        own = [m for m in (bound.errors if isinstance(bound.errors, list) else []) if isinstance(m, str)][:1]
        return own + [m.get(language) for m in errors.get(key, [])]

    sections = []
    for section in form.sections:
        slots = []
        for fdef in section.fields:
            bound = wtform[fdef.key]
            slot = FieldSlot(fdef.key, bound, _kind(fdef), fdef.required and fdef.required_unless is None,
                             messages(fdef.key, bound))
            if fdef.type == "group":
                for entry in bound.entries:
                    slot.rows.append([
                        FieldSlot(sub.key, entry.form[sub.key], _kind(sub), sub.required,
                                  [m for m in entry.form[sub.key].errors if isinstance(m, str)])
                        for sub in fdef.fields
                    ])
                    slot.remove.append(entry.form[REMOVE_KEY])
            slots.append(slot)
        sections.append(SectionSlot(section.label.get(language), section.help.get(language) if section.help else "",
                                    slots))
    return sections


def _kind(fdef: FieldDef) -> str:
    if fdef.type == "choice":
        return "radio" if fdef.widget == "radio" else "select"
    return {"multichoice": "checkboxes", "boolean": "checkbox", "group": "group"}.get(fdef.type, "input")


def problem_list(sections: list[SectionSlot]) -> list[tuple[str, str, str]]:
    """(field id, label, first message) of every field with an error, for the summary at the top."""
    found = []
    for section in sections:
        for slot in section.fields:
            messages = slot.errors or [m for row in slot.rows for sub in row for m in sub.errors]
            if messages:
                found.append((slot.bound.id, slot.bound.label.text, messages[0]))
    return found
