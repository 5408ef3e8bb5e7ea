"""The password-reset e-mail: a link and when it expires, nothing else (no name, no node, no role).

Sent through the same SMTP settings as the clocks' e-mail (referral/clocks/mail.py). Without an SMTP
host, a development installation prints the link on the worker's console, clearly marked; any other
installation only logs that a link could not be sent (never the address, never the link).
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from ..clocks.mail import MailSettings, send

log = logging.getLogger(__name__)
SUBJECT = "[Protocolo de Trata] Restablecer contraseña · Reset your password"


def compose_reset(settings: MailSettings, to: str, link: str, expires_at: dt.datetime, timezone: Any) -> EmailMessage:
    until = expires_at.astimezone(timezone).strftime("%d-%m-%Y %H:%M")
    zone = getattr(timezone, "key", str(timezone))  # the IANA name: the workflow's calendar.time_zone
    mail = EmailMessage()
    mail["Subject"] = SUBJECT
    mail["From"] = settings.sender
    mail["To"] = to
    mail["Date"] = formatdate(localtime=False)
    mail.set_content(
        "Se pidió un enlace para elegir una nueva contraseña de esta cuenta. Ábralo (sirve una sola vez,\n"
        f"hasta el {until}, hora local {zone}):\n\n{link}\n\n"
        "Si usted no lo pidió, ignore este mensaje: su contraseña no cambia. No lo reenvíe.\n\n"
        "-- \n"
        "A link to choose a new password for this account was asked for. Open it (it works once,\n"
        f"until {until}, local time {zone}):\n\n{link}\n\n"
        "If you did not ask for it, ignore this message: your password does not change. Do not forward it.\n"
    )
    return mail


def deliver_reset(settings: MailSettings | None, development: bool, to: str, link: str, expires_at: dt.datetime,
                  timezone: Any) -> bool:
    """Send the link (True if sent); without SMTP, print it for a developer or log that it was not sent."""
    if settings is None:
        if development:
            print(f"\n==== DEVELOPMENT ONLY: password reset link (no SMTP host set) ====\n{link}\n"
                  "==== end of the reset link ====\n", flush=True)
        else:
            log.warning("a password reset link was not sent: no SMTP host is configured")
        return False
    try:
        send(settings, compose_reset(settings, to, link, expires_at, timezone))
    except (OSError, smtplib.SMTPException) as error:  # the person may ask again; no address in the log
        log.warning("a password reset e-mail was not sent (%s)", type(error).__name__)
        return False
    return True
