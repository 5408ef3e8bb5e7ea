"""The forms of the referrals pages (WTForms): what a page accepts; the services decide what it means."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional


class ReferForm(FlaskForm):
    case_version = HiddenField()
    to_node = StringField()
    due_on = DateField(validators=[Optional()])
    note = TextAreaField()
    override_reason = SelectField(validators=[Optional()], validate_choice=False)
    override_note = TextAreaField()


class AnswerForm(FlaskForm):
    case_version = HiddenField()
    reason = SelectField(validators=[Optional()], validate_choice=False)
    note = TextAreaField()


class ConsentForm(FlaskForm):
    case_version = HiddenField()
    given_by = SelectField(validate_choice=False)
    scope = SelectField(validate_choice=False)
    node = SelectField(validators=[Optional()], validate_choice=False)
    org_type = SelectField(validators=[Optional()], validate_choice=False)
    given_on = DateField(validators=[Optional()])
    valid_until = DateField(validators=[Optional()])
    evidence = SelectField(validate_choice=False)
    note = TextAreaField()


class EmergencyForm(FlaskForm):
    reference = StringField()
    reason = SelectField(validate_choice=False)
    note = TextAreaField()
    hours = IntegerField(validators=[Optional()])
