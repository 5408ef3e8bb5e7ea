"""E-mail for reminders and escalations: a case reference and a link, nothing personal.

Staff get it at their account's address; a node with no active staff in the system gets it at its
institutional contact address (directory), telling it to contact the focal point.

Sending is at-least-once: a notification's e-mail is claimed for a lease before the SMTP
conversation and marked sent after it, so a worker that dies mid-conversation leaves it to be sent
again later; the Message-ID is the notification's own, so a mail system that sees it twice can
tell. Only staff and institutional addresses are used; the victim never has an address here.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import ssl
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ..workflow import WorkflowDefinition
from ..workflow.subjects import KINDS as NONCASE_KINDS
from .models import Notification
from .wording import notification_message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MailSettings:
    host: str
    port: int
    security: str  # starttls | ssl | none
    username: str | None
    password: str | None
    sender: str
    base_url: str
    timeout: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MailSettings | None:
        """None when no SMTP host is configured (in-app notifications only)."""
        if not config.get("SMTP_HOST"):
            return None
        return cls(config["SMTP_HOST"], int(config["SMTP_PORT"]), config["SMTP_SECURITY"],
                   config.get("SMTP_USERNAME"), config.get("SMTP_PASSWORD"), config["MAIL_FROM"],
                   config["BASE_URL"], float(config["SMTP_TIMEOUT_SECONDS"]))


def compose(note: Notification, definition: WorkflowDefinition, settings: MailSettings, timezone: Any) -> EmailMessage:
    """Spanish first, English below; the subject and body name only the clock and the reference."""
    if note.case is not None:
        reference, about, path = note.case.reference, None, f"/casos/{note.case.reference}"
    else:  # a subject that is not a case (a Mesa's agreement, a meta of the Plan): its kind and id only
        kind = NONCASE_KINDS[note.clock_row.subject_kind]
        about = kind.about(note.clock_row.subject)
        reference, path = about.es, kind.link(note.clock_row.subject) or "/notificaciones"
    words = notification_message(definition, note.clock, note.kind, note.due_at, note.level, reference, timezone,
                                 about)
    link = f"{settings.base_url}{path}"
    mail = EmailMessage()
    mail["Subject"] = f"[Protocolo de Trata] {words.title.es} · {reference}"
    mail["From"] = settings.sender
    mail["Date"] = formatdate(localtime=False)
    domain = settings.sender.rpartition("@")[2] if "@" in settings.sender else "localhost"
    mail["Message-ID"] = f"<{note.id}@{domain}>"  # the same for every attempt at this notification
    if note.user is not None and note.case is None:
        mail["To"] = note.user.email
        es = f"Abrir (requiere iniciar sesión): {link}"
        en = f"Open (sign-in required): {link}"
    elif note.user is not None:
        mail["To"] = note.user.email
        es = f"Abrir el caso (requiere iniciar sesión): {link}"
        en = f"Open the case (sign-in required): {link}"
    elif note.case is None:  # a node without staff accounts, told of a Mesa's or the Plan's deadline
        assert note.node is not None and note.node.contact_email
        mail["To"] = note.node.contact_email
        es = (f"Su institución ({note.node.short_name}) es responsable de este compromiso y no tiene cuentas activas "
              "en el sistema: comuníquese con la Secretaría Técnica de la Mesa Intersectorial.")
        en = (f"Your institution ({note.node.short_name}) is responsible for this commitment and has no active "
              "accounts in the system: contact the Technical Secretariat of the Inter-sector Table.")
    else:  # a node without staff accounts: its institutional contact, told whom to call
        assert note.node is not None and note.node.contact_email
        mail["To"] = note.node.contact_email
        es = (f"Su institución ({note.node.short_name}) participa en este caso del Protocolo pero no tiene cuentas "
              "activas en el sistema: comuníquese con el punto focal regional para responder, y pida a la "
              "administración una cuenta para su equipo.")
        en = (f"Your institution ({note.node.short_name}) takes part in this case of the Protocol but has no active "
              "accounts in the system: contact the regional focal point to answer, and ask the administration for "
              "an account for your team.")
    mail.set_content(
        f"{words.body.es}\n\n{es}\n\n"
        "Este mensaje no contiene datos de la persona. No lo reenvíe.\n\n"
        "-- \n"
        f"{words.body.en}\n\n{en}\n\n"
        "This message holds no personal data. Do not forward it.\n"
    )
    return mail


def send(settings: MailSettings, mail: EmailMessage) -> None:
    if settings.security == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                                context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    with client:
        if settings.security == "starttls":
            client.starttls(context=ssl.create_default_context())
        if settings.username:
            client.login(settings.username, settings.password or "")
        client.send_message(mail)


def deliver(session: Session, note_id: uuid.UUID, definition: WorkflowDefinition, settings: MailSettings,
            timezone: Any, now: dt.datetime, lease: dt.timedelta) -> bool:
    """Send one notification's e-mail if it is still owed and no live task holds it; True if sent."""
    claimed = session.execute(
        update(Notification)
        .where(Notification.id == note_id, Notification.email_pending,
               or_(Notification.email_claimed_at.is_(None), Notification.email_claimed_at < now - lease))
        .values(email_claimed_at=now).execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    if claimed != 1:
        return False
    note = session.scalar(select(Notification).where(Notification.id == note_id))
    if note is None:  # the case was erased meanwhile
        return False
    try:
        mail = compose(note, definition, settings, timezone)
    except Exception as error:  # a defect, not a passing fault: retrying would fail forever
        log.error("e-mail for notification %s cannot be composed (%s); not retried", note_id, type(error).__name__)
        session.execute(update(Notification).where(Notification.id == note_id)
                        .values(email_pending=False).execution_options(synchronize_session=False))
        session.commit()
        return False
    try:
        send(settings, mail)
    except (OSError, smtplib.SMTPException) as error:
        # The claim lapses after the lease and a later sweep tries again. No address in the log.
        log.warning("e-mail for notification %s not sent (%s); will retry", note_id, type(error).__name__)
        return False
    session.execute(update(Notification).where(Notification.id == note_id)
                    .values(email_pending=False, emailed_at=now).execution_options(synchronize_session=False))
    session.commit()
    return True
