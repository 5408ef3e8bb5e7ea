"""The forms of the auth pages (WTForms): what a page accepts; the services decide what it means."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional

from . import second_factor as factors


class CodeForm(FlaskForm):
    code = StringField("Código", validators=[DataRequired(), Length(max=factors.MAX_CODE_LENGTH)])


class ConfirmForm(FlaskForm):
    password = PasswordField("Contraseña", validators=[DataRequired(), Length(max=200)])
    code = StringField("Código", validators=[Optional(), Length(max=factors.MAX_CODE_LENGTH)])
    next = HiddenField()


class LoginForm(FlaskForm):
    email = EmailField("Correo", validators=[DataRequired(), Length(max=200)])
    password = PasswordField("Contraseña", validators=[DataRequired(), Length(max=200)])
