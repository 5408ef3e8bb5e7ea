"""The forms of the admin pages (WTForms): what a page accepts; the services decide what it means."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length


class EraseForm(FlaskForm):
    reference = StringField("Referencia del caso", validators=[DataRequired(), Length(max=20)])
    reason = SelectField("Motivo", validators=[DataRequired()])
    confirmation = StringField("Escriba de nuevo la referencia para confirmar",
                               validators=[DataRequired(), Length(max=20)])
