"""The forms of the plan pages (WTForms): what a page accepts; the services decide what it means."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, SelectField, StringField, TextAreaField


class ProgressForm(FlaskForm):
    token = HiddenField()
    status = SelectField(validate_choice=False)
    value_0 = StringField()
    value_1 = StringField()
    value_2 = StringField()
    reference = TextAreaField()
    evidence = FileField()


class ActionForm(FlaskForm):
    description = TextAreaField()
    goal = TextAreaField()  # the action's meta («meta» is taken by FlaskForm)
    due_on = StringField()  # YYYY-MM-DD; checked by the service
    responsible = SelectField(validate_choice=False)
    indicator_0 = TextAreaField()
    indicator_kind_0 = SelectField(validate_choice=False)
    indicator_1 = TextAreaField()
    indicator_kind_1 = SelectField(validate_choice=False)
    indicator_2 = TextAreaField()
    indicator_kind_2 = SelectField(validate_choice=False)


class InstitutionForm(FlaskForm):
    name = StringField()
    node_codes = StringField()


class PlanForm(FlaskForm):
    key = StringField()
    title = StringField()
    starts_on = StringField()
    ends_on = StringField()
    copy_from = SelectField(validate_choice=False)


class IssueForm(FlaskForm):
    semestre = HiddenField()
