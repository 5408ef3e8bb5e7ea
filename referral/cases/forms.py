"""The forms of the cases pages (WTForms): what a page accepts; the services decide what it means."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    DateField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import Optional

from ..web.dynamic_forms import CheckboxesField

AGREEMENT_ROWS = 4  # rows of the minutes form; blank ones are ignored



class NoteForm(FlaskForm):
    token = HiddenField()
    type = SelectField(validate_choice=False)
    date = DateField(validators=[Optional()])
    participants = StringField()
    narrative = TextAreaField()
    next_steps = TextAreaField()
    shared_with = CheckboxesField(validate_choice=False)


class AttachmentForm(FlaskForm):
    token = HiddenField()
    kind = SelectField(validate_choice=False)
    shared_with = CheckboxesField(validate_choice=False)
    file = FileField()


class MeetingForm(FlaskForm):
    token = HiddenField()
    date = DateField(validators=[Optional()])
    time = TimeField(validators=[Optional()])
    modality = SelectField(validate_choice=False)
    place = StringField()
    purpose = TextAreaField()
    invited = CheckboxesField(validate_choice=False)


class AgreementRow(Form):
    text = StringField()
    responsible = SelectField(validate_choice=False)
    due_on = DateField(validators=[Optional()])


class MinutesForm(FlaskForm):
    attendees = CheckboxesField(validate_choice=False)
    narrative = TextAreaField()
    agreements = FieldList(FormField(AgreementRow), min_entries=AGREEMENT_ROWS, max_entries=AGREEMENT_ROWS)


class CancelForm(FlaskForm):
    motivo = SelectField(validate_choice=False)  # checked by the service; «confirmo» by web.confirm


class DoneForm(FlaskForm):
    agreement = HiddenField()  # the agreement the page showed: a form posted elsewhere is refused
    note = StringField()


class AssignForm(FlaskForm):
    case_version = HiddenField()
    responsable = HiddenField()
    motivo = HiddenField()


class VersionForm(FlaskForm):
    case_version = HiddenField()


class SearchForm(FlaskForm):
    q = StringField()
    nacimiento = DateField(validators=[Optional()])
