"""A test-client wrapper that behaves like a person at a browser: logs in, opens forms, submits them.

Forms are always fetched first, so every POST carries the real CSRF token and the hidden fields
(case version, intake token) the page gave; nothing is disabled for tests.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pyotp
from sqlalchemy import func, select, update
from werkzeug.test import TestResponse

from referral.auth import second_factor as factors
from referral.auth.models import SecondFactor, User
from referral.auth.sessions import session_clock
from referral.extensions import database

DOMAIN = "demo.cl"


class _Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hidden: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("type") == "hidden" and values.get("name"):
            self.hidden.setdefault(values["name"] or "", values.get("value") or "")


def hidden_inputs(html: str) -> dict[str, str]:
    parser = _Inputs()
    parser.feed(html)
    return parser.hidden


def form_inputs(html: str, action: str) -> dict[str, str]:
    """The hidden inputs of the form posting to `action` only (the header's language form has its own)."""
    match = re.search(rf'<form[^>]*action="{re.escape(action)}"[\s\S]*?</form>', html)
    assert match, f"no form posts to {action}"
    return hidden_inputs(match.group(0))


# -- the second step of signing in, done as the person would with her phone -----------------------

CODE_PAGE, ENROL_PAGE = "/ingresar/codigo", "/ingresar/segundo-factor"


def authenticator_code(app: Any, email: str) -> str | None:
    """The code the person's authenticator app shows now, for a step the server has not yet accepted.

    The app accepts each step once and only ±1 step around now, so a phone gives a person at most three
    sign-ins in 30 seconds. Tests sign one person in more often than that; when the window is used up this
    helper rewinds the stored step, as the passing of time would. The replay protection itself is proven
    without this helper (tests/auth/test_second_factor.py)."""
    db = database.factory(app)()
    try:
        factor = db.scalar(select(SecondFactor).join(User, User.id == SecondFactor.user_id).where(
            func.lower(User.email) == email.lower(), SecondFactor.confirmed_at.is_not(None)))
        if factor is None:
            return None
        totp = pyotp.TOTP(factors.open_secret(app.extensions["referral.vault"].masters, factor))
        current = totp.timecode(session_clock(app.config)())
        last = factor.last_step if factor.last_step is not None else current - 2
        step = max(current - factors.DRIFT_STEPS, last + 1)
        if step > current + factors.DRIFT_STEPS:
            db.execute(update(SecondFactor).where(SecondFactor.id == factor.id).values(last_step=current - 2))
            db.commit()
            step = current - factors.DRIFT_STEPS
        return totp.generate_otp(step)
    finally:
        db.close()


def complete_sign_in(app: Any, client: Any, email: str, response: TestResponse) -> TestResponse:
    """After the password: type the code (or, for a first enrolment, read the key off the page, confirm it
    and follow the link under the recovery codes). Any other answer (a wrong password, a person with no
    second factor) is returned as it is."""
    location = response.headers.get("Location", "") if response.status_code == 302 else ""
    if location == CODE_PAGE:
        page = client.get(CODE_PAGE)
        return client.post(CODE_PAGE, data={**hidden_inputs(page.text), "code": authenticator_code(app, email) or ""})
    if location == ENROL_PAGE:
        page = client.get(ENROL_PAGE)
        secret = re.search(r'class="secret">([A-Z2-7 ]+)<', page.text)
        assert secret, "the enrolment page shows no key"
        code = pyotp.TOTP(secret.group(1).replace(" ", "")).at(session_clock(app.config)())
        shown = client.post(ENROL_PAGE, data={**hidden_inputs(page.text), "code": code})
        onward = re.search(r'<a class="button primary" href="([^"]+)">', shown.text)
        assert shown.status_code == 200 and onward, "the enrolment did not show the recovery codes"
        return client.get(onward.group(1))  # «Ya los guardé, continuar», as the person would
    return response


class Browser:
    def __init__(self, app: Any, password: str):
        self.app = app
        self.client = app.test_client()
        self.password = password

    def login(self, name: str, password: str | None = None, *, second_step: bool = True) -> TestResponse:
        """Sign in through the form; with `second_step`, also through the code page (see complete_sign_in)."""
        page = self.client.get("/ingresar")
        email = f"{name}@{DOMAIN}"
        answer = self.client.post("/ingresar", data={**hidden_inputs(page.text), "email": email,
                                                     "password": password or self.password})
        return complete_sign_in(self.app, self.client, email, answer) if second_step else answer

    def confirm(self, name: str, password: str | None = None) -> TestResponse:
        """Prove again who one is (/cuenta/confirmar): the password, and the code if she has a second factor."""
        page = self.client.get("/cuenta/confirmar")
        return self.client.post("/cuenta/confirmar", data={
            **form_inputs(page.text, "/cuenta/confirmar"), "password": password or self.password,
            "code": authenticator_code(self.app, f"{name}@{DOMAIN}") or ""})

    def get(self, url: str, **options: Any) -> TestResponse:
        return self.client.get(url, **options)

    def submit(self, url: str, data: dict[str, Any] | None = None, *, page_url: str | None = None,
               **overrides: Any) -> TestResponse:
        """Open the page with the form (default: `url`), fill in `data`, and post it to `url`.

        A destructive step's page asks to tick «Confirmo»; the person doing the step ticks it, so this
        does too unless `data` says `confirmo=None` (the tests of that protection)."""
        page = self.client.get(page_url or url)
        assert page.status_code == 200, f"{page_url or url} answered {page.status_code}"
        fields = hidden_inputs(page.text)
        if 'name="confirmo"' in page.text:
            fields["confirmo"] = "si"
        fields.update(data or {})
        fields.update(overrides)
        return self.client.post(url, data={k: v for k, v in fields.items() if v is not None})

    def post(self, url: str, data: dict[str, Any] | None = None) -> TestResponse:
        """A raw POST with a valid CSRF token (taken from the home page), as a crafted request would."""
        page = self.client.get("/protocolo")
        token = hidden_inputs(page.text).get("csrf_token", "")
        return self.client.post(url, data={"csrf_token": token, **(data or {})})

    def case_version(self, reference: str) -> str:
        """The case version the case page carries in its action forms."""
        page = self.client.get(f"/casos/{reference}")
        match = re.search(r'name="case_version" value="(\d+)"', page.text)
        assert match, "the case page offers no action form"
        return match.group(1)

    def act(self, reference: str, action: str, data: dict[str, Any] | None = None) -> TestResponse:
        """Fire an action from the case page, through its form if it has one."""
        case_page = self.client.get(f"/casos/{reference}")
        url = f"/casos/{reference}/acciones/{action}"
        if f'href="{url}"' in case_page.text:
            return self.submit(url, data)
        version = re.search(rf'action="{re.escape(url)}"[\s\S]*?name="case_version" value="(\d+)"', case_page.text)
        assert version, f"action {action} is not offered on the case page"
        fields = hidden_inputs(case_page.text)
        return self.client.post(url, data={"csrf_token": fields["csrf_token"], "case_version": version.group(1)})
