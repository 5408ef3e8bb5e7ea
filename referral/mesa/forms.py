"""The forms of the mesa pages (WTForms): what a page accepts; the services decide what it means."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, FieldList, Form, FormField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional

from ..web.dynamic_forms import CheckboxesField

AGREEMENT_ROWS = 5  # rows of the form; blank ones are ignored



class AgreementRow(Form):
    text = StringField()
    responsible = SelectField(validate_choice=False)
    due_on = DateField(validators=[Optional()])


class SessionForm(FlaskForm):
    token = HiddenField()
    held_on = DateField(validators=[Optional()])
    present = CheckboxesField(validate_choice=False)
    minutes = TextAreaField()
    agreements = FieldList(FormField(AgreementRow), min_entries=AGREEMENT_ROWS, max_entries=AGREEMENT_ROWS)


class MinutesForm(FlaskForm):
    minutes = TextAreaField()


class DoneForm(FlaskForm):
    agreement = HiddenField()  # the agreement the page showed: a form posted elsewhere (or empty) is refused
