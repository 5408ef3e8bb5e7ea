"""The forms of the stats pages (WTForms): what a page accepts; the services decide what it means."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.validators import Optional


class FilterForm(FlaskForm):
    """The fixed grid auditors narrow figures on: a calendar year or quarter, a region, a type."""

    class Meta:
        csrf = False  # a GET form that only narrows what is shown

    periodo = SelectField(validators=[Optional()])
    region = SelectField(validators=[Optional()])
    tipo = SelectField(validators=[Optional()])


class YearForm(FlaskForm):
    """The annual report's one choice: a calendar year."""

    class Meta:
        csrf = False  # a GET form that only chooses what is shown

    anio = SelectField(validators=[Optional()])
