"""Second factor: an authenticator app (TOTP, RFC 6238, with `pyotp`) and single-use recovery codes.
No Flask here.

- The TOTP secret is wrapped by the master keyring (AES-256-GCM, associated data naming the account and the
  master key), like node private keys; `rewrap_secrets` moves them to a new primary master key.
- A code is accepted for its time step ±1 (clock drift), and each step once per person: the last accepted
  step is stored and only a later one passes, with a conditional UPDATE so two requests cannot both win.
- Recovery codes: ten random codes shown once, kept as argon2id hashes; each works once.
- Wrong codes are counted server-side per attempt (`Verification`): five per attempt, ten per hour per
  person, whatever the cookie says.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import uuid
from dataclasses import dataclass
from io import BytesIO

import pyotp
import qrcode
import qrcode.image.svg
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ..network.models import Assignment
from ..vault import MasterKeyring, Vault
from ..workflow import WorkflowDefinition
from .models import RecoveryCode, SecondFactor, User, Verification
from .passwords import hash_password, verify_password

STEP_SECONDS = 30
DRIFT_STEPS = 1  # a code of the previous or the next step is accepted too (the phone's clock drifts)
DIGITS = 6
ISSUER = "Protocolo Trata"
ATTEMPT_LIFETIME = dt.timedelta(minutes=5)  # a half-signed-in login: the code must follow within this
MAX_FAILURES = 5  # wrong codes per attempt, then back to the password
MAX_FAILURES_PER_HOUR = 10  # wrong codes per person, over every attempt of the last hour
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud and typed from paper
RECOVERY_GROUPS, RECOVERY_GROUP = 3, 4  # three groups of four base32 characters: 60 random bits
MAX_CODE_LENGTH = 40  # what a typed code may be; longer is not ours

LOGIN, ENROL, CONFIRM = "login", "enrol", "confirm"
TOTP, RECOVERY = "totp", "recovery"


@dataclass(frozen=True)
class Accepted:
    """A code that proved who the person is: which kind, and (for a recovery code) how many remain."""

    kind: str
    remaining: int | None = None


# -- who must have one ----------------------------------------------------------------------------


def required(db: Session, definition: WorkflowDefinition, user: User) -> bool:
    """Whether the workflow requires a second factor of this person (her role, or her node's functions)."""
    functions = db.scalars(select(Assignment.function).where(Assignment.node_id == user.node_id)).all()
    return definition.second_factor_required(user.role, functions)


def active_factor(db: Session, user_id: int) -> SecondFactor | None:
    """The person's confirmed authenticator, or None."""
    return db.scalar(select(SecondFactor).where(SecondFactor.user_id == user_id,
                                                SecondFactor.confirmed_at.is_not(None)))


# -- the secret, wrapped by the master keyring ----------------------------------------------------


def _context(user_id: int, master_key_id: str) -> bytes:
    return f"second-factor|v1|{user_id}|{master_key_id}".encode()


def seal_secret(masters: MasterKeyring, user_id: int, secret: str) -> tuple[bytes, str]:
    """The TOTP secret wrapped for this account under the primary master key: (wrapped, master key id)."""
    return masters.wrap(secret.encode("ascii"), _context(user_id, masters.key_id)), masters.key_id


def open_secret(masters: MasterKeyring, factor: SecondFactor) -> str:
    """The TOTP secret of `factor` (DecryptionFailed if the row was moved to another account)."""
    raw = masters.unwrap(factor.secret_wrapped, _context(factor.user_id, factor.master_key_id), factor.master_key_id)
    return raw.decode("ascii")


def rewrap_secrets(db: Session, vault: Vault) -> int:
    """Wrap every TOTP secret under the primary master key (master key rotation); return how many moved.
    Compare-and-swap on the master key id, so a concurrent enrolment is not overwritten."""
    primary, moved = vault.masters.key_id, 0
    for factor in db.scalars(select(SecondFactor).where(SecondFactor.master_key_id != primary)).all():
        wrapped, key_id = seal_secret(vault.masters, factor.user_id, open_secret(vault.masters, factor))
        moved += db.execute(update(SecondFactor).where(SecondFactor.id == factor.id,
                                                       SecondFactor.master_key_id == factor.master_key_id)
                            .values(secret_wrapped=wrapped, master_key_id=key_id)
                            .execution_options(synchronize_session=False)).rowcount
    return moved


def master_keys_in_use(db: Session) -> set[str]:
    return set(db.scalars(select(SecondFactor.master_key_id).distinct()))


# -- enrolment ------------------------------------------------------------------------------------


def begin_enrolment(db: Session, masters: MasterKeyring, user: User, now: dt.datetime) -> tuple[SecondFactor, str]:
    """The person's unconfirmed authenticator (a new random secret, or the one being set up): (row, secret).
    A confirmed one, if any, keeps working until the new one is confirmed."""
    pending = db.scalar(select(SecondFactor).where(SecondFactor.user_id == user.id,
                                                   SecondFactor.confirmed_at.is_(None)))
    if pending is not None:
        return pending, open_secret(masters, pending)
    secret = pyotp.random_base32()
    return enrol_secret(db, masters, user, secret, now, confirmed=False), secret


def enrol_secret(db: Session, masters: MasterKeyring, user: User, secret: str, now: dt.datetime, *,
                 confirmed: bool) -> SecondFactor:
    """Store `secret` (wrapped) as the person's authenticator; confirmed ones replace any earlier one."""
    if confirmed:
        db.execute(delete(SecondFactor).where(SecondFactor.user_id == user.id)
                   .execution_options(synchronize_session=False))
    wrapped, key_id = seal_secret(masters, user.id, secret)
    factor = SecondFactor(user_id=user.id, secret_wrapped=wrapped, master_key_id=key_id, created_at=now,
                          confirmed_at=now if confirmed else None)
    db.add(factor)
    db.flush()
    return factor


def confirm_enrolment(db: Session, masters: MasterKeyring, factor: SecondFactor, code: str, now: dt.datetime,
                      profile: str) -> list[str] | None:
    """Confirm an authenticator with its first code: it replaces any earlier one, and a fresh set of
    recovery codes is issued and returned (to be shown once). None if the code is wrong."""
    step = matched_step(open_secret(masters, factor), code, now)
    if step is None:
        return None
    db.execute(delete(SecondFactor).where(SecondFactor.user_id == factor.user_id, SecondFactor.id != factor.id)
               .execution_options(synchronize_session=False))
    factor.confirmed_at, factor.last_step = now, step
    return issue_recovery_codes(db, factor.user_id, now, profile)


def remove(db: Session, user_id: int) -> None:
    """Forget the person's authenticator and recovery codes."""
    db.execute(delete(SecondFactor).where(SecondFactor.user_id == user_id).execution_options(synchronize_session=False))
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id).execution_options(synchronize_session=False))


def provisioning_uri(secret: str, account: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(name=account, issuer_name=ISSUER)


def qr_svg(text: str) -> str:
    """`text` as an inline SVG QR code: a white square and one path, no style attribute, no script (the CSP allows it)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathFillImage, box_size=8, border=2)
    buffer = BytesIO()
    image.save(buffer)
    markup = buffer.getvalue().decode("utf-8")
    return markup[markup.index("<svg"):]


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing it into an app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


# -- checking codes -------------------------------------------------------------------------------


def normalise(code: str | None) -> str:
    """A typed code without spaces or hyphens, upper case ('123 456', 'abcd-efgh-jkmn')."""
    if not isinstance(code, str) or len(code) > MAX_CODE_LENGTH:
        return ""
    return "".join(code.split()).replace("-", "").upper()


def matched_step(secret: str, code: str, now: dt.datetime) -> int | None:
    """The time step (±DRIFT_STEPS around `now`) whose code this is, or None."""
    code = normalise(code)
    if len(code) != DIGITS or not (code.isascii() and code.isdigit()):  # "١٢٣٤٥٦" is digits too, not ours
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = totp.timecode(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step  # no early exit: the time taken says nothing about which step matched
    return found


def use_totp(db: Session, masters: MasterKeyring, factor: SecondFactor, code: str, now: dt.datetime) -> bool:
    """Accept a code of the authenticator once: its step must be later than the last accepted one."""
    step = matched_step(open_secret(masters, factor), code, now)
    if step is None:
        return False
    won = db.execute(update(SecondFactor).where(
        SecondFactor.id == factor.id, (SecondFactor.last_step.is_(None)) | (SecondFactor.last_step < step))
        .values(last_step=step).execution_options(synchronize_session=False)).rowcount
    if won == 1:
        db.refresh(factor)
    return won == 1


def issue_recovery_codes(db: Session, user_id: int, now: dt.datetime, profile: str) -> list[str]:
    """Ten new recovery codes (returned once, kept hashed); the earlier unused ones stop working."""
    db.execute(update(RecoveryCode).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
               .values(used_at=now).execution_options(synchronize_session=False))
    codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
    for code in codes:
        db.add(RecoveryCode(user_id=user_id, code_hash=hash_password(normalise(code), profile), created_at=now))
    db.flush()
    return codes


def _recovery_code() -> str:
    groups = ("".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_GROUP))
              for _ in range(RECOVERY_GROUPS))
    return "-".join(groups)


def recovery_codes_left(db: Session, user_id: int) -> int:
    return db.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))) or 0


def use_recovery_code(db: Session, user_id: int, code: str, now: dt.datetime, profile: str) -> int | None:
    """Spend one recovery code: return how many remain, or None if it is not one of the unused ones."""
    typed = normalise(code)
    if len(typed) != RECOVERY_GROUPS * RECOVERY_GROUP:
        return None
    unused = db.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)))
    match = next((row for row in unused if verify_password(row.code_hash, typed, profile)), None)
    if match is None:
        return None
    won = db.execute(update(RecoveryCode).where(RecoveryCode.id == match.id, RecoveryCode.used_at.is_(None))
                     .values(used_at=now).execution_options(synchronize_session=False)).rowcount
    return recovery_codes_left(db, user_id) if won == 1 else None


def check_code(db: Session, masters: MasterKeyring, user: User, code: str, now: dt.datetime,
               profile: str) -> Accepted | None:
    """A code of the person's authenticator, or one of her recovery codes; None if neither."""
    factor = active_factor(db, user.id)
    if factor is None:
        return None
    if use_totp(db, masters, factor, code, now):
        return Accepted(TOTP)
    remaining = use_recovery_code(db, user.id, code, now, profile)
    return None if remaining is None else Accepted(RECOVERY, remaining)


# -- attempts: wrong codes counted server-side ----------------------------------------------------


def start_attempt(db: Session, user: User, purpose: str, now: dt.datetime,
                  session_id: uuid.UUID | None = None) -> Verification:
    """A new attempt to prove who the person is; earlier open ones of the same purpose (and session) end."""
    query = update(Verification).where(Verification.user_id == user.id, Verification.purpose == purpose,
                                       Verification.ended_at.is_(None))
    if session_id is not None:
        query = query.where(Verification.session_id == session_id)
    db.execute(query.values(ended_at=now).execution_options(synchronize_session=False))
    db.execute(delete(Verification).where(Verification.user_id == user.id,
                                          Verification.created_at < now - dt.timedelta(days=1))
               .execution_options(synchronize_session=False))
    attempt = Verification(id=uuid.uuid4(), user_id=user.id, purpose=purpose, session_id=session_id,
                           created_at=now, failures=0)
    db.add(attempt)
    db.flush()
    return attempt


def live_attempt(db: Session, attempt_id: object, purpose: str, now: dt.datetime) -> Verification | None:
    """The open attempt the cookie names, if it is of `purpose` and not older than ATTEMPT_LIFETIME."""
    try:
        key = uuid.UUID(str(attempt_id))
    except ValueError:
        return None
    attempt = db.get(Verification, key)
    if attempt is None or attempt.purpose != purpose or attempt.ended_at is not None:
        return None
    return attempt if now - attempt.created_at <= ATTEMPT_LIFETIME else None


def open_confirmation(db: Session, user: User, session_id: uuid.UUID, now: dt.datetime) -> Verification:
    """The session's open confirmation attempt (one per session until it succeeds or fails out)."""
    attempt = db.scalar(select(Verification).where(
        Verification.user_id == user.id, Verification.purpose == CONFIRM, Verification.session_id == session_id,
        Verification.ended_at.is_(None)))
    return attempt or start_attempt(db, user, CONFIRM, now, session_id)


def record_failure(attempt: Verification, now: dt.datetime) -> bool:
    """Count a wrong code; return True when the attempt is used up (and end it)."""
    attempt.failures += 1
    if attempt.failures >= MAX_FAILURES:
        attempt.ended_at = now
        return True
    return False


def end_attempt(attempt: Verification, now: dt.datetime) -> None:
    attempt.ended_at = now


def failures_last_hour(db: Session, user_id: int, now: dt.datetime) -> int:
    """Wrong codes the person was charged with over every attempt started in the last hour."""
    return db.scalar(select(func.coalesce(func.sum(Verification.failures), 0)).where(
        Verification.user_id == user_id, Verification.created_at > now - dt.timedelta(hours=1))) or 0


def too_many_failures(db: Session, user_id: int, now: dt.datetime) -> bool:
    return failures_last_hour(db, user_id, now) >= MAX_FAILURES_PER_HOUR
