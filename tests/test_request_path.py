"""The request path never answers 500 to input (issue 14, item 3).

- Races end as 409, whether the conflict is seen before or at flush, and the error handlers roll the
  request's session back before they read anything (the user's language, the menu).
- A 409 keeps what was typed and links back to the case.
- Engines hide bound parameters: no typed value reaches an exception's text or a log record.
- One hook (`referral/web/input.py`) refuses NUL, other control characters and invalid UTF-8 in
  any path, query or form value with 400, and bidi controls and zero-width characters in names.
- Revoking a consent says so (it used to answer «Error interno» after saving).
"""

from __future__ import annotations

import io
import logging
import re
import threading
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import SQLAlchemyError

from referral.kernel.models import Case
from referral.db import make_engine
from referral.extensions import database
from referral.network.models import Node
from referral.kernel.referral_models import Consent

from .backends import both_backends
from .browser import Browser, hidden_inputs
from .factories import ficha_post
from .referrals import consent
from .steps import activate, file_case, node_id, user
from .units import unit_of_work

FIRST, SECOND = "coordinador.rm", "coordinacion.nacional"
LEAD_OF = {FIRST: "CAVD-CL-RM", SECOND: "SERNAMEG"}
STALE = "El caso cambió"
WHY = "otra persona lo modificó antes"


def signed_in(app: Any, name: str) -> Browser:
    from referral.demo.network import DEMO_PASSWORD

    browser = Browser(app, DEMO_PASSWORD)
    assert browser.login(name).status_code == 302, name
    return browser


def filed(app: Any) -> str:
    health = signed_in(app, "salud.rm")
    response = health.submit("/fichas/nueva", ficha_post())
    assert response.status_code == 303, response.status_code
    return response.headers["Location"].rsplit("/", 1)[1]


def stored_case(app: Any, reference: str) -> tuple[str, int]:
    with unit_of_work(app) as ctx:
        case = ctx.session.scalar(select(Case).where(Case.reference == reference))
        return case.state, case.version


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Everything the log records hold: messages, arguments, tracebacks."""
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            parts.append(repr(record.exc_info[1]))
            parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


def activation_form(app: Any, browser: Browser, url: str, name: str) -> dict[str, str]:
    typed = {"nodo_lider": str(node_id(app, LEAD_OF[name])), "fundamento": f"Fundamento escrito por {name} 4417."}
    return {**hidden_inputs(browser.get(url).text), **typed}


# -- races: 409, never 500 --------------------------------------------------------------------------


@both_backends
def test_two_coordinators_activating_one_case_at_once_get_one_303_and_one_409_that_keeps_the_text(
        app: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Real threads; both have read the case before either writes, so the loser fails at flush."""
    caplog.set_level(logging.DEBUG)
    reference = filed(app)
    url = f"/casos/{reference}/acciones/activar"
    browsers = {name: signed_in(app, name) for name in (FIRST, SECOND)}
    assert browsers[FIRST].act(reference, "tomar_caso").status_code == 303
    forms = {name: activation_form(app, browser, url, name) for name, browser in browsers.items()}
    assert forms[FIRST]["case_version"] == forms[SECOND]["case_version"]

    import referral.cases.views as views

    real = views.fire_transition
    both_read = threading.Barrier(2, timeout=20)

    def after_both_read(*args: Any, **kwargs: Any) -> Any:
        both_read.wait()  # each request has loaded the case (check_transition) before either writes
        return real(*args, **kwargs)

    monkeypatch.setattr(views, "fire_transition", after_both_read)
    responses: dict[str, Any] = {}

    def press(name: str) -> None:
        try:
            responses[name] = browsers[name].client.post(url, data=forms[name])
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            responses[name] = error

    threads = [threading.Thread(target=press, args=(name,)) for name in (FIRST, SECOND)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not any(thread.is_alive() for thread in threads), "a request hung"

    statuses = {name: getattr(r, "status_code", repr(r)) for name, r in responses.items()}
    assert sorted(statuses.values(), key=str) == [303, 409], statuses
    loser = next(name for name, status in statuses.items() if status == 409)
    page = responses[loser].text
    assert STALE in page and WHY in page and "Vuelva a cargar el caso" in page
    assert forms[loser]["fundamento"] in page  # the form again, as typed
    assert f'href="/casos/{reference}"' in page  # and the way back to the case
    assert stored_case(app, reference) == ("activado", 3)
    assert forms[loser]["fundamento"] not in logged(caplog)
    assert forms[FIRST]["fundamento"][:20] not in logged(caplog)


@both_backends
def test_a_case_changed_between_reading_and_writing_ends_in_409_not_in_an_error_in_the_error_handler(
        app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same race, in a fixed order: another request commits right after this one read the case.

    The conditional UPDATE of `claim_version` then finds nothing, StaleCase is raised at flush and
    the session needs a rollback before the 409 page can read the user's language.
    """
    reference = filed(app)
    browser = signed_in(app, FIRST)
    assert browser.act(reference, "tomar_caso").status_code == 303
    url = f"/casos/{reference}/acciones/activar"
    form = activation_form(app, browser, url, FIRST)

    import referral.cases.views as views

    real = views.fire_transition

    def someone_else_commits_first(*args: Any, **kwargs: Any) -> Any:
        with unit_of_work(app) as other:
            other.session.execute(update(Case).where(Case.reference == reference).values(version=Case.version + 1))
            other.session.commit()
        return real(*args, **kwargs)

    monkeypatch.setattr(views, "fire_transition", someone_else_commits_first)
    response = browser.client.post(url, data=form)

    assert response.status_code == 409
    assert STALE in response.text and WHY in response.text
    assert form["fundamento"] in response.text
    assert stored_case(app, reference) == ("en_evaluacion", 3)  # only the other request's change


@both_backends
def test_a_conflicting_insert_at_flush_ends_in_409_and_logs_no_value(
        app: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """An IntegrityError at flush (a concurrent insert of the same row) is a conflict, not a crash."""
    caplog.set_level(logging.DEBUG)
    reference = filed(app)
    browser = signed_in(app, FIRST)
    url = f"/casos/{reference}/acciones/tomar_caso"
    version = browser.case_version(reference)
    csrf = hidden_inputs(browser.get(f"/casos/{reference}").text)["csrf_token"]

    import referral.cases.views as views

    real = views.fire_transition

    def and_a_duplicate_row(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        event = real(ctx, *args, **kwargs)
        ctx.session.add(Node(code="SERNAMEG", short_name="Duplicado 5521", name="Duplicado 5521", org_type="NGO",
                             level="local", active=True))
        return event

    monkeypatch.setattr(views, "fire_transition", and_a_duplicate_row)
    response = browser.client.post(url, data={"csrf_token": csrf, "case_version": version})

    assert response.status_code == 409
    assert STALE in response.text and f'href="/casos/{reference}"' in response.text
    assert stored_case(app, reference) == ("detectado", 1)
    assert "5521" not in logged(caplog)


# -- bound parameters never reach an exception or a log ---------------------------------------------


@both_backends
def test_a_failing_statement_shows_no_parameter_in_its_exception_or_the_engine_log(
        app: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    secret = "ana.secreta.7731@demo.cl"
    engine = make_engine(app.config["DATABASE_URL"])
    try:
        with engine.connect() as connection, pytest.raises(SQLAlchemyError) as failed:
            connection.execute(text("SELECT id FROM no_such_table WHERE email = :email"), {"email": secret})
        with engine.connect() as connection:  # a statement that works is logged without its values too
            connection.execute(text("SELECT id FROM users WHERE email = :email"), {"email": secret})
    finally:
        engine.dispose()
    assert "no_such_table" in str(failed.value)
    assert secret not in str(failed.value) and secret not in repr(failed.value)
    assert "no_such_table" in caplog.text  # the engine did log the statements...
    assert secret not in logged(caplog)  # ...and none of their values
    assert database.engine(app).hide_parameters


# -- one place refuses control characters, invalid UTF-8 and (in names) bidi controls -------------


def login_post(client: Any, **fields: str) -> Any:
    token = hidden_inputs(client.get("/ingresar").text)["csrf_token"]
    return client.post("/ingresar", data={"csrf_token": token, "password": "x", **fields})


@both_backends
@pytest.mark.parametrize("email", ["a\x00b@demo.cl", "a\x1bb@demo.cl", "a\x7fb@demo.cl", "\x00"])
def test_the_login_page_refuses_control_characters_with_400_without_an_account(app: Any, email: str) -> None:
    response = login_post(app.test_client(), email=email)

    assert response.status_code == 400
    assert "El campo «email» contiene un carácter no permitido" in response.text
    assert "Error interno" not in response.text


@both_backends
def test_a_nul_in_a_case_reference_or_a_filter_is_a_400(app: Any) -> None:
    browser = signed_in(app, FIRST)
    for url in ("/casos/TP-%00AB", "/casos/TP-%FFAB", "/casos?region=%00", "/casos?estado=%C3%28",
                "/casos/TP-%E2%80%AEAB", "/bandeja/triaje?senal=a%00"):
        response = browser.get(url)
        assert response.status_code == 400, url
        assert "La dirección de la página contiene un carácter no permitido" in response.text, url
    assert app.test_client().get("/casos/TP-%00AB").status_code == 400  # signed out too


def test_invalid_utf8_in_a_form_body_is_a_400(app: Any) -> None:
    client = app.test_client()
    token = hidden_inputs(client.get("/ingresar").text)["csrf_token"]
    response = client.post("/ingresar", data=f"csrf_token={token}&email=a%FF%FEb%40demo.cl&password=x",
                           content_type="application/x-www-form-urlencoded")

    assert response.status_code == 400
    assert "«email»" in response.text and "UTF-8" in response.text


def test_a_field_name_with_a_control_character_is_named_without_echoing_it(app: Any) -> None:
    response = login_post(app.test_client(), **{"x\x00<b>": "1", "email": "a@demo.cl"})

    assert response.status_code == 400
    assert "<b>" not in response.text and "&lt;b&gt;" not in response.text
    assert "sin nombre válido" in response.text


@both_backends
def test_the_ficha_refuses_a_nul_anywhere_and_a_bidi_override_in_a_name_but_keeps_what_was_typed(app: Any) -> None:
    health = signed_in(app, "salud.rm")
    before = count_cases(app)

    nul = health.submit("/fichas/nueva", ficha_post(relato="Primera línea\x00 segunda"))
    assert nul.status_code == 400
    assert "El campo «relato» contiene un carácter no permitido" in nul.text
    assert "Primera línea\ufffd segunda" in nul.text  # what was typed, to copy, with the character marked

    spoofed = health.submit("/fichas/nueva", ficha_post(nombres="Ana\u202eaxeR"))
    assert spoofed.status_code == 400
    assert "El campo «nombres» es un nombre o identificador" in spoofed.text

    zero_width = health.submit("/fichas/nueva", ficha_post(apellidos="Pé\u200brez"))
    assert zero_width.status_code == 400 and "«apellidos»" in zero_width.text
    assert count_cases(app) == before

    # In a narrative the same characters are kept: text pasted from messaging apps carries them.
    narrative = health.submit("/fichas/nueva", ficha_post(relato="Dijo: \u202a+56 9 1234 5678\u202c \u200d"))
    assert narrative.status_code == 303
    assert count_cases(app) == before + 1


def test_a_stored_name_with_a_bidi_override_is_isolated_wherever_it_is_shown(app: Any) -> None:
    """A name stored before the request check existed (or by a script) cannot turn the rest of its row
    around: lists, the case header and the forms' values show it inside <bdi>."""
    reference = file_case(app, nombres="Ana\u202eaxeR", relato="Dijo: \u202e+56 9 1234 5678")
    focal = signed_in(app, "coordinador.rm")
    inbox = focal.get("/casos")
    assert "<bdi>Ana\u202eaxeR" in inbox.text
    assert re.search(r"<td[^>]*>[^<]*\u202e", inbox.text) is None  # never bare in a cell
    page = focal.get(f"/casos/{reference}")
    assert page.status_code == 200 and "<bdi>Ana\u202eaxeR" in page.text
    assert re.search(r"<dd[^>]*>[^<]*\u202e", page.text) is None


def count_cases(app: Any) -> int:
    from sqlalchemy import func

    with unit_of_work(app) as ctx:
        return int(ctx.session.scalar(select(func.count()).select_from(Case)))


def node_names(app: Any) -> list[tuple[str, str]]:
    with unit_of_work(app) as ctx:
        return [tuple(row) for row in ctx.session.execute(select(Node.short_name, Node.name).order_by(Node.id))]


def member_count(app: Any) -> int:
    from sqlalchemy import func

    from referral.auth.models import User

    with unit_of_work(app) as ctx:
        return int(ctx.session.scalar(select(func.count()).select_from(User)))


@both_backends
@pytest.mark.parametrize(("field", "value", "message"), [
    ("name", "Refugio\x00 Norte", "contiene un carácter no permitido"),
    ("short_name", "Refugio \u202eetroN", "es un nombre o identificador"),
    ("name", "Refugio\u2066 Norte", "es un nombre o identificador"),
    ("short_name", "\ufeffRefugio", "es un nombre o identificador"),
])
def test_a_node_name_with_a_nul_or_a_bidi_control_is_refused(app: Any, field: str, value: str, message: str) -> None:
    admin = signed_in(app, "administrador")
    before = node_names(app)
    url = f"/administracion/nodos/{node_id(app, 'SERNAMEG')}"
    from .network.pages import form_fields

    fields = {**form_fields(admin.get(url).text), field: value}
    response = admin.client.post(url, data=fields)

    assert response.status_code == 400
    assert f"El campo «{field}» {message}" in response.text
    assert node_names(app) == before


@both_backends
@pytest.mark.parametrize("display_name", ["Ana\x00 Pérez", "Ana \u202eзеreP", "Ana\u200d Pérez"])
def test_a_member_name_with_a_nul_or_an_invisible_character_is_refused(app: Any, display_name: str) -> None:
    admin = signed_in(app, "administrador")
    before = member_count(app)
    url = f"/administracion/nodos/{node_id(app, 'SERNAMEG')}/miembros"
    token = hidden_inputs(admin.get(url).text)["csrf_token"]

    response = admin.client.post(url, data={"csrf_token": token, "email": "nueva.7781@demo.cl",
                                            "display_name": display_name, "role": "profesional"})

    assert response.status_code == 400
    assert "«display_name»" in response.text
    assert member_count(app) == before


@both_backends
@pytest.mark.parametrize(("cell", "reason"), [
    ("Refugio\x00Norte", "El archivo contiene un carácter de control (como NUL)"),
    ("Refugio \u202eetroN", "Contiene un carácter de control, invisible o de dirección del texto"),
])
def test_the_node_csv_import_refuses_a_nul_or_a_bidi_control_in_a_name(app: Any, cell: str, reason: str) -> None:
    from referral.network.csvio import COLUMNS

    admin = signed_in(app, "administrador")
    before = node_names(app)
    row = {"code": "REFUGIO-NORTE", "short_name": cell, "name": "Fundación Refugio del Norte", "org_type": "NGO",
           "level": "local", "regions": "CL-TA", "services": "alojamiento", "capacity_total": "6",
           "capacity_free": "2", "contact_email": "", "contact_phone": "", "active": "si"}
    content = ",".join(COLUMNS) + "\n" + ",".join(row[c] for c in COLUMNS) + "\n"
    token = hidden_inputs(admin.get("/administracion/nodos/importar").text)["csrf_token"]

    response = admin.client.post("/administracion/nodos/importar", data={
        "csrf_token": token, "file": (io.BytesIO(content.encode("utf-8")), "nodos.csv")},
        content_type="multipart/form-data")

    assert response.status_code == 422
    assert reason in response.text
    assert re.search(r"<td>2</td>", response.text)  # the line
    assert node_names(app) == before


# -- consent revoke ----------------------------------------------------------------------------------


def revoke_button(app: Any) -> tuple[str, Any, Any, str, dict[str, str]]:
    """An activated case with a consent, and the coordinator's revoke button as the case page shows it:
    (reference, consent id, browser, the button's action, its hidden fields)."""
    reference = file_case(app)
    activate(app, reference)
    given = consent(app, reference)
    browser = signed_in(app, "coordinador.rm")
    page = browser.get(f"/casos/{reference}").text
    action = f"/casos/{reference}/consentimientos/{given}/revocar"
    form = re.search(rf'action="{re.escape(action)}"[\s\S]*?</form>', page)
    assert form, "the case page offers no revoke button"
    return reference, given, browser, action, hidden_inputs(form.group(0))


@both_backends
def test_revoking_a_consent_from_the_case_page_says_so(app: Any) -> None:
    reference, given, browser, action, fields = revoke_button(app)

    response = browser.client.post(action, data=fields)

    assert response.status_code == 303 and response.headers["Location"] == f"/casos/{reference}"
    shown = browser.get(response.headers["Location"]).text
    assert "Consentimiento revocado." in shown and "Error interno" not in shown
    with unit_of_work(app) as ctx:
        row = ctx.session.get(Consent, given)
        assert row is not None and row.revoked_at is not None
        assert row.revoked_by_user_id == user(ctx, "coordinador.rm").id


@both_backends
def test_revoking_on_a_page_another_person_changed_is_a_409_with_a_link_back(app: Any) -> None:
    """A conflict seen before flush, on a view that registers no form: the generic 409 page."""
    reference, given, browser, action, fields = revoke_button(app)
    consent(app, reference, scope="nodo", node_id=node_id(app, "SERNAMEG"))  # someone else, meanwhile

    response = browser.client.post(action, data=fields)

    assert response.status_code == 409
    assert STALE in response.text and WHY in response.text
    assert f'<a href="/casos/{reference}">Volver al caso</a>' in response.text
    with unit_of_work(app) as ctx:
        row = ctx.session.get(Consent, given)
        assert row is not None and row.revoked_at is None


def test_invalid_utf8_in_a_multipart_field_is_a_400(app: Any) -> None:
    admin = signed_in(app, "administrador")
    token = hidden_inputs(admin.get("/administracion/nodos/importar").text)["csrf_token"]
    boundary = "frontera"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"nota\"\r\n\r\n").encode() + b"a\xff\xfeb" + (
            f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"n.csv\"\r\n"
            f"Content-Type: text/csv\r\n\r\ncode\r\n--{boundary}--\r\n").encode()

    response = admin.client.post("/administracion/nodos/importar", data=body,
                                 content_type=f"multipart/form-data; boundary={boundary}")

    assert response.status_code == 400
    assert "El campo «nota» contiene un carácter no permitido" in response.text
