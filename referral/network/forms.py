"""The forms of the network pages (WTForms): what a page accepts; the services decide what it means."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField

from ..web.dynamic_forms import CheckboxesField, TextField


class CountField(StringField):
    """A whole number of places, or empty (None); what was typed is shown again if it is not a number."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        raw = (valuelist[0] if valuelist else "").strip()
        self.data = None
        if raw:
            try:
                self.data = int(raw)
            except ValueError as error:
                raise ValueError(_("Escriba un número entero de 0 o más.")) from error

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return "" if self.data is None else str(self.data)


class NodeForm(FlaskForm):
    code = TextField()
    short_name = TextField()
    name = TextField()
    org_type = SelectField(validate_choice=False)
    level = SelectField(validate_choice=False)
    regions = SelectMultipleField(validate_choice=False)
    services = CheckboxesField(validate_choice=False)
    capacity_total = CountField()
    capacity_free = CountField()
    contact_email = TextField()
    contact_phone = TextField()
    active = BooleanField(default=True)


class OwnNodeForm(FlaskForm):
    services = CheckboxesField(validate_choice=False)
    capacity_total = CountField()
    capacity_free = CountField()
    contact_email = TextField()
    contact_phone = TextField()


class MemberForm(FlaskForm):
    email = TextField()
    display_name = TextField()
    role = SelectField(validate_choice=False)
    manages_node = BooleanField()
    active = BooleanField(default=True)


class MemberEditForm(FlaskForm):
    email = TextField()
    node_id = SelectField(validate_choice=False)
    role = SelectField(validate_choice=False)
    manages_node = BooleanField()
    active = BooleanField()


class DecisionForm(FlaskForm):
    decision = StringField()  # aprobar | rechazar (the button pressed)
    reason = StringField()  # a code of grants.REASONS; the service refuses any other


class ImportForm(FlaskForm):
    file = FileField()
