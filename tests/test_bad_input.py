"""Bad input through the browser: refused with a clear status and message, never a 500, nothing lost.

Every form is fetched first and posted with its real CSRF token, as a person at a browser would;
tampered requests change only the one value they tamper with. "Nothing written" is checked in the
database, not only in the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import pytest
from markupsafe import escape
from sqlalchemy import delete, func, select, update

from referral.kernel.models import Case, CaseEvent, CaseKey, FormRecord, Participant, Track
from referral.extensions import database
from referral.network.models import Assignment, Node

from .backends import both_backends
from .browser import Browser, hidden_inputs
from .factories import ficha_post, informe_post, residencia_post

REQUIRED = "Este campo es obligatorio."
INVALID_CHOICE = "Opción inválida."
INVALID_CHOICES = "no es una opción válida para este campo."  # WTForms, for checkbox lists
NOT_FUTURE = "La fecha no puede estar en el futuro."
TOO_OLD = "Fecha imposible: indicaría más de 110 años de edad."
NOT_SENT = "La Ficha no se envió: revise los campos marcados. Lo escrito se conserva."
NOT_APPLIED = "No se registró la acción: revise los campos marcados. Lo escrito se conserva."
NOT_SAVED = "No se guardó: revise los campos marcados. Lo escrito se conserva."
STALE = "El caso cambió"
HIDDEN = {"csrf_token", "intake_token", "case_version"}


# -- reading pages --------------------------------------------------------------------------------

class _FormState(HTMLParser):
    """What a browser would send back from a page as it stands: values, checked and selected items."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, list[str]] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        name = a.get("name") or ""
        if tag == "input" and name:
            kind = a.get("type") or "text"
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.values.setdefault(name, []).append(a.get("value") or "on")
            elif kind not in ("submit", "button"):
                self.values.setdefault(name, []).append(a.get("value") or "")
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.values.setdefault(self._select, []).append(a.get("value") or "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.values[name] = [""]

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.values[self._textarea][0] += data


def form_state(html: str) -> dict[str, list[str]]:
    parser = _FormState()
    parser.feed(html)
    return {k: [v.removeprefix("\r\n").removeprefix("\n") for v in vs if v != ""] for k, vs in parser.values.items()}


def assert_kept(html: str, typed: dict[str, Any], *, but: tuple[str, ...] = ()) -> None:
    """Every value typed is in the re-rendered form: inputs keep values, options stay selected/checked."""
    shown = form_state(html)
    for key, value in typed.items():
        if key in HIDDEN or key in but or value is None:
            continue
        expected = [v for v in (value if isinstance(value, list) else [value]) if v != ""]
        assert sorted(shown.get(key, [])) == sorted(expected), f"{key}: typed {expected}, shown {shown.get(key)}"


def field_block(html: str, key: str) -> str:
    """The `<div class="field ...">` of one field (its label, input and messages)."""
    for block in re.findall(r'<div class="field [^"]*"[^>]*>.*?</div>', html, re.S):
        if re.search(rf'\bname="{re.escape(key)}"', block):
            return block
    raise AssertionError(f"no field {key} in the page")


def assert_field_error(html: str, key: str, message: str) -> None:
    block = field_block(html, key)
    assert "has-error" in block.split(">", 1)[0], f"{key} is not marked as an error"
    # A message may start with the refused value itself (WTForms: "'x' no es una opción válida...").
    assert re.search(rf'<p class="error">[^<]*{re.escape(escape(message))}', block), \
        f"{key}: {re.findall(r'class=.error.>([^<]*)', block)}"


def errors_in(html: str) -> dict[str, list[str]]:
    """Which fields the page marks with an error, and their messages."""
    marked = {}
    for block in re.findall(r'<div class="field [^"]*has-error"[^>]*>.*?</div>', html, re.S):
        name = re.search(r'\bname="([^"]+)"', block).group(1)
        marked[name] = re.findall(r'<p class="error">([^<]*)</p>', block)
    return marked


def page_message(response: Any) -> str:
    match = re.search(r"<h1>([^<]*)</h1>\s*<p>([^<]*)</p>", response.text)
    return " ".join(match.groups()) if match else ""


def reference_of(response: Any) -> str:
    assert response.status_code == 303, (response.status_code, errors_in(response.text))
    match = re.search(r"/casos/(TP-[0-9A-Z]{4}-[0-9A-Z]{4})$", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def ok(response: Any) -> None:
    assert response.status_code == 303, (response.status_code, errors_in(response.text),
                                         re.findall(r'class="flash error"[^>]*>([^<]+)', response.text))


def refused(response: Any, *statuses: int) -> None:
    assert response.status_code in statuses, (response.status_code, page_message(response))


# -- the database ---------------------------------------------------------------------------------

def node_id(app: Any, code: str) -> int:
    with app.app_context():
        return database.session().scalar(select(Node.id).where(Node.code == code))


class Network:
    """Changes an administrator makes to the node directory meanwhile; undone after the test
    (the PostgreSQL test database keeps its network between tests)."""

    def __init__(self, app: Any):
        self.app = app
        self.undo: list[Any] = []

    def deactivate(self, code: str) -> None:
        self._set_active(code, False)
        self.undo.append(lambda: self._set_active(code, True))

    def unassign(self, function: str) -> None:
        with self.app.app_context():
            session = database.session()
            rows = [(a.function, a.region_code, a.node_id) for a in session.scalars(
                select(Assignment).where(Assignment.function == function))]
            session.execute(delete(Assignment).where(Assignment.function == function))
            session.commit()
        self.undo.append(lambda: self._assign(rows))

    def _set_active(self, code: str, active: bool) -> None:
        with self.app.app_context():
            session = database.session()
            session.execute(update(Node).where(Node.code == code).values(active=active))
            session.commit()

    def _assign(self, rows: list[tuple[str, str | None, int]]) -> None:
        with self.app.app_context():
            session = database.session()
            session.add_all(Assignment(function=f, region_code=r, node_id=n) for f, r, n in rows)
            session.commit()


@pytest.fixture
def network(app: Any) -> Iterator[Network]:
    changes = Network(app)
    yield changes
    for undo in reversed(changes.undo):
        undo()


def totals(app: Any) -> dict[str, int]:
    """Rows in every table a case writes to."""
    with app.app_context():
        session = database.session()
        return {model.__tablename__: session.scalar(select(func.count()).select_from(model))
                for model in (Case, CaseKey, FormRecord, CaseEvent, Participant, Track)}


def stored(app: Any, reference: str) -> dict[str, Any]:
    """Everything the database holds about one case, in comparable form."""
    with app.app_context():
        session = database.session()
        case = session.scalar(select(Case).where(Case.reference == reference))
        return {
            "state": case.state, "version": case.version, "flags": dict(case.flags or {}),
            "tracks": {t.track: t.state for t in session.scalars(select(Track).where(Track.case_id == case.id))},
            "records": sorted((r.form_key, r.revision, r.status, r.current, r.complete) for r in session.scalars(
                select(FormRecord).where(FormRecord.case_id == case.id))),
            "participants": sorted((p.node_id, p.relation, p.active) for p in session.scalars(
                select(Participant).where(Participant.case_id == case.id))),
            "events": [(e.seq, e.kind, e.action) for e in session.scalars(
                select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq))],
        }


def actions_done(app: Any, reference: str, action: str) -> int:
    return sum(1 for _seq, _kind, done in stored(app, reference)["events"] if done == action)


# -- people and cases -----------------------------------------------------------------------------

@dataclass
class Team:
    health: Browser  # detecting node (MINSAL Metropolitana)
    coordinator: Browser  # regional focal point (CAVD Metropolitana)
    lead: Browser  # case worker of the lead node (CAVD Metropolitana)
    migration: Browser  # migration service (SERMIG)
    outsider: Browser  # a coordinator of another region, no relation to RM cases


@pytest.fixture
def team(make_browser: Any) -> Team:
    people = Team(*(make_browser() for _ in range(5)))
    for person, name in ((people.health, "salud.rm"), (people.coordinator, "coordinador.rm"),
                         (people.lead, "gestor.rm"), (people.migration, "migraciones"),
                         (people.outsider, "coordinador.ta")):
        assert person.login(name).status_code in (302, 303)
    return people


def filed(team: Team, **changes: Any) -> str:
    return reference_of(team.health.submit("/fichas/nueva", ficha_post(**changes)))


def taken(team: Team) -> str:
    reference = filed(team)
    ok(team.coordinator.act(reference, "tomar_caso"))
    return reference


def activated(app: Any, team: Team) -> str:
    reference = taken(team)
    ok(team.coordinator.act(reference, "activar", {"nodo_lider": str(node_id(app, "CAVD-CL-RM")),
                                                    "fundamento": "Indicadores claros."}))
    return reference


def with_residence_request(app: Any, team: Team, track_state: str, **changes: Any) -> str:
    reference = activated(app, team)
    ok(team.lead.act(reference, "iniciar_residencia"))
    ok(team.lead.submit(f"/casos/{reference}/formularios/solicitud_residencia/editar", residencia_post(**changes)))
    if track_state in ("presentada", "en_tramite"):
        ok(team.lead.act(reference, "presentar_residencia"))
    if track_state == "en_tramite":
        ok(team.migration.act(reference, "registrar_tramite"))
    assert stored(app, reference)["tracks"] == {"residencia": track_state}
    return reference


def writing_informe(app: Any, team: Team) -> str:
    reference = activated(app, team)
    ok(team.lead.act(reference, "iniciar_informe"))
    return reference


# -- the Ficha: missing, impossible and unknown values --------------------------------------------

def test_a_ficha_missing_required_fields_is_refused_with_a_message_beside_each_and_keeps_what_was_typed(
        app: Any, team: Team) -> None:
    before = totals(app)
    # Ficha v2 (issue 15): the legal elements and the nationality may stay blank; where, a contact, what was
    # observed, sex, consent may not.
    typed = ficha_post(region="", sexo=None, funcionario_contacto="", indicadores=None, nacionalidad="", fines=None,
                       tipo_trata="", consentimiento=None)

    response = team.health.submit("/fichas/nueva", typed)

    assert response.status_code == 400
    assert NOT_SENT in response.text
    missing = ("region", "sexo", "funcionario_contacto", "indicadores", "consentimiento")
    for key in missing:
        assert_field_error(response.text, key, REQUIRED)
    assert set(errors_in(response.text)) == set(missing)  # and no other field is blamed
    assert_kept(response.text, typed)
    assert totals(app) == before


@pytest.mark.parametrize(("changes", "key", "message"), [
    pytest.param({"fecha_nacimiento": "2027-03-01"}, "fecha_nacimiento", NOT_FUTURE, id="born in the future"),
    pytest.param({"fecha_nacimiento": "1915-11-18"}, "fecha_nacimiento", TOO_OLD, id="born 111 years ago"),
    pytest.param({"fecha_nacimiento": "0203-04-01"}, "fecha_nacimiento", TOO_OLD, id="born in the year 203"),
    pytest.param({"fecha_deteccion": "2026-11-19T09:30"}, "fecha_deteccion", NOT_FUTURE, id="detected tomorrow"),
    pytest.param({"fecha_deteccion": "2026-11-18T12:30"}, "fecha_deteccion", NOT_FUTURE,
                 id="detected later today in Santiago"),
    pytest.param({"fecha_deteccion": "1999-12-31T23:00"}, "fecha_deteccion",
                 "La fecha no puede ser anterior a 01-01-2000.", id="detected last century"),
    pytest.param({"denuncia_realizada": "si", "denuncia_por": "victima", "denuncia_ante": "fiscalia",
                  "denuncia_fecha": "2026-12-01"}, "denuncia_fecha", NOT_FUTURE, id="complaint made next month"),
])
def test_a_ficha_with_an_impossible_date_is_refused_with_the_reason_beside_the_date_and_keeps_what_was_typed(
        app: Any, team: Team, changes: dict[str, str], key: str, message: str) -> None:
    before = totals(app)
    typed = ficha_post(**changes)

    response = team.health.submit("/fichas/nueva", typed)

    assert response.status_code == 400
    assert_field_error(response.text, key, message)
    assert list(errors_in(response.text)) == [key]
    assert_kept(response.text, typed)
    assert totals(app) == before


@pytest.mark.parametrize("changes", [
    pytest.param({"fecha_nacimiento": "1916-11-18"}, id="born exactly 110 years ago today"),
    pytest.param({"fecha_deteccion": "2026-11-18T11:59"}, id="detected a minute ago in Santiago"),
    pytest.param({"fecha_deteccion": "2000-01-01T00:00"}, id="detected on the first day allowed"),
])
def test_dates_at_the_edge_of_the_rules_are_accepted(team: Team, changes: dict[str, str]) -> None:
    filed(team, **changes)


@pytest.mark.parametrize(("key", "value", "message"), [
    pytest.param("region", "CL-XX", INVALID_CHOICE, id="unknown region"),
    pytest.param("sexo", "Z", INVALID_CHOICE, id="unknown sex"),
    pytest.param("nacionalidad", "QQ", INVALID_CHOICE, id="unknown country"),
    pytest.param("contexto", "submarino", INVALID_CHOICE, id="unknown setting"),
    pytest.param("edad_tipo", "adivinada", INVALID_CHOICE, id="unknown kind of age"),
    pytest.param("idiomas", ["es", "klingon"], INVALID_CHOICES, id="an unknown language among known ones"),
    pytest.param("riesgos_inmediatos", ["<script>alert(1)</script>"], INVALID_CHOICES, id="markup as a choice"),
])
def test_a_ficha_with_a_value_that_is_not_one_of_the_choices_is_refused_beside_that_field(
        app: Any, team: Team, key: str, value: Any, message: str) -> None:
    before = totals(app)
    typed = ficha_post(**{key: value})

    response = team.health.submit("/fichas/nueva", typed)

    assert response.status_code == 400
    assert_field_error(response.text, key, message)
    assert "<script>alert" not in response.text
    assert_kept(response.text, typed, but=(key,))
    assert totals(app) == before


# -- the Ficha: means (medios) are not required for a child ---------------------------------------

@pytest.mark.parametrize("changes", [
    pytest.param({"fecha_nacimiento": "2010-05-02"}, id="born 16 years ago"),
    pytest.param({"fecha_nacimiento": "2008-11-19"}, id="turns 18 tomorrow"),
    pytest.param({"edad_tipo": "estimada", "fecha_nacimiento": "", "edad_estimada": "15"}, id="estimated 15"),
    pytest.param({"edad_tipo": "desconocida", "fecha_nacimiento": "", "nna": "y"}, id="age unknown, marked NNA"),
])
def test_a_childs_ficha_is_accepted_without_means_and_the_case_is_marked_nna(
        app: Any, team: Team, changes: dict[str, str]) -> None:
    reference = filed(team, medios=None, **changes)

    assert stored(app, reference)["flags"]["nna"] is True
    assert 'class="badge flag-nna"' in team.health.get(f"/casos/{reference}").text


@pytest.mark.parametrize("changes", [
    pytest.param({}, id="born 1996"),
    pytest.param({"fecha_nacimiento": "2008-11-18"}, id="turns 18 today"),
    pytest.param({"edad_tipo": "estimada", "fecha_nacimiento": "", "edad_estimada": "18"}, id="estimated 18"),
    pytest.param({"edad_tipo": "desconocida", "fecha_nacimiento": ""}, id="age unknown, not marked NNA"),
])
def test_an_adults_ficha_without_means_or_any_legal_element_is_accepted_for_the_focal_point_to_qualify(
        app: Any, team: Team, changes: dict[str, str]) -> None:
    """Ficha v2 (issue 15): detection rests on indicators; version 1 refused an adult's Ficha without means."""
    reference = filed(team, medios=None, acciones=None, fines=None, tipo_trata="", ambito="", **changes)

    assert stored(app, reference)["flags"]["nna"] is False
    assert team.health.get(f"/casos/{reference}").status_code == 200


# -- tampered requests: refused with 400, 403, 404 or 409, never 500 -----------------------------

@pytest.mark.parametrize(("lead_node", "message"), [
    pytest.param("999999", INVALID_CHOICE, id="a node that does not exist"),
    pytest.param("abc", INVALID_CHOICE, id="not a node id"),
    pytest.param("-1", INVALID_CHOICE, id="a negative id"),
    pytest.param("", REQUIRED, id="no node"),
    pytest.param("inactive", INVALID_CHOICE, id="an inactive node"),
])
def test_activating_with_a_lead_node_that_does_not_exist_or_is_inactive_is_refused(
        app: Any, team: Team, network: Network, lead_node: str, message: str) -> None:
    reference = taken(team)
    if lead_node == "inactive":
        network.deactivate("SERNAMEG")
        lead_node = str(node_id(app, "SERNAMEG"))
    before = stored(app, reference)
    typed = {"nodo_lider": lead_node, "fundamento": "Indicadores claros."}

    response = team.coordinator.submit(f"/casos/{reference}/acciones/activar", typed)

    assert response.status_code == 400
    assert NOT_APPLIED in response.text
    assert_field_error(response.text, "nodo_lider", message)
    assert_kept(response.text, typed, but=("nodo_lider",))
    assert stored(app, reference) == before


@pytest.mark.parametrize("where", ["button", "action form", "draft"])
def test_a_post_carrying_an_old_case_version_gets_409_and_the_explanation_page(
        app: Any, team: Team, where: str) -> None:
    # Each action below is still possible on the case as it is now; only the version is old.
    reference = taken(team) if where == "action form" else writing_informe(app, team)
    before = stored(app, reference)
    old = str(before["version"] - 1)
    if where == "button":
        csrf = hidden_inputs(team.lead.get(f"/casos/{reference}").text)["csrf_token"]
        response = team.lead.client.post(f"/casos/{reference}/acciones/iniciar_residencia",
                                         data={"csrf_token": csrf, "case_version": old})
    elif where == "action form":
        response = team.coordinator.submit(f"/casos/{reference}/acciones/solicitar_informacion",
                                           {"preguntas": "¿Dónde duerme hoy?"}, case_version=old)
    else:
        response = team.lead.submit(f"/casos/{reference}/formularios/informe_social/editar",
                                    {"redes_apoyo": "Una prima."}, case_version=old)

    assert response.status_code == 409
    assert STALE in response.text and "No se aplicó nada" in response.text
    assert stored(app, reference) == before


BAD_VERSIONS = [
    pytest.param(None, id="missing"),
    pytest.param("", id="empty"),
    pytest.param("abc", id="letters"),
    pytest.param("-1", id="negative"),
    pytest.param("1.0", id="decimal"),
    pytest.param(" 2", id="padded"),
    pytest.param("0x2", id="hexadecimal"),
    pytest.param("²", id="superscript two"),
    pytest.param("9" * 5000, id="five thousand digits"),
]


@pytest.mark.parametrize("version", BAD_VERSIONS)
@pytest.mark.parametrize("where", ["button", "action form", "draft"])
def test_a_post_with_a_missing_or_non_numeric_case_version_is_refused_with_400(
        app: Any, team: Team, where: str, version: str | None) -> None:
    if where == "draft":
        reference = writing_informe(app, team)
        person, url, typed = team.lead, f"/casos/{reference}/formularios/informe_social/editar", {"redes_apoyo": "x"}
    elif where == "button":
        reference = filed(team)
        person, url, typed = team.coordinator, f"/casos/{reference}/acciones/tomar_caso", {}
    else:
        reference = taken(team)
        person, url, typed = team.coordinator, f"/casos/{reference}/acciones/solicitar_informacion", {"preguntas": "?"}
    before = stored(app, reference)

    csrf = hidden_inputs(person.get(f"/casos/{reference}").text)["csrf_token"]
    data = {"csrf_token": csrf, **typed, **({} if version is None else {"case_version": version})}
    response = person.client.post(url, data=data)

    assert response.status_code == 400, response.status_code
    assert stored(app, reference) == before


@pytest.mark.parametrize("token", [None, "", "not-a-token", "another session's token"])
@pytest.mark.parametrize("where", ["ficha", "button", "action form", "draft"])
def test_a_post_without_a_valid_csrf_token_is_refused_with_400_and_changes_nothing(
        app: Any, team: Team, make_browser: Any, where: str, token: str | None) -> None:
    if token == "another session's token":
        other = make_browser()
        other.login("coordinador.rm")  # the same person, another browser
        token = hidden_inputs(other.get("/protocolo").text)["csrf_token"]
    reference = None
    if where == "ficha":
        person, url, typed = team.health, "/fichas/nueva", ficha_post()
    elif where == "button":
        reference = filed(team)
        person, url, typed = team.coordinator, f"/casos/{reference}/acciones/tomar_caso", {}
    elif where == "action form":
        reference = taken(team)
        person, url, typed = team.coordinator, f"/casos/{reference}/acciones/solicitar_informacion", {"preguntas": "?"}
    else:
        reference = writing_informe(app, team)
        person, url, typed = team.lead, f"/casos/{reference}/formularios/informe_social/editar", {"redes_apoyo": "x"}
    before = totals(app)
    page = person.get(url if where in ("ficha", "action form", "draft") else f"/casos/{reference}")
    fields = {**hidden_inputs(page.text), **typed, "csrf_token": token}

    response = person.client.post(url, data={k: v for k, v in fields.items() if v is not None})

    assert response.status_code == 400
    assert "Formulario vencido o alterado" in response.text
    assert totals(app) == before


def test_an_action_that_does_not_exist_answers_404(app: Any, team: Team) -> None:
    reference = filed(team)
    before = stored(app, reference)
    version = str(before["version"])

    assert team.coordinator.get(f"/casos/{reference}/acciones/volar").status_code == 404
    response = team.coordinator.post(f"/casos/{reference}/acciones/volar", {"case_version": version})
    assert response.status_code == 404
    assert "Acción desconocida." in response.text
    assert team.coordinator.post(f"/casos/{reference}/acciones/__init__", {"case_version": version}).status_code == 404
    assert stored(app, reference) == before


def test_a_form_that_does_not_exist_answers_404(app: Any, team: Team) -> None:
    reference = writing_informe(app, team)
    before = stored(app, reference)
    version = str(before["version"])

    assert team.lead.get(f"/casos/{reference}/formularios/no_existe/editar").status_code == 404
    assert team.lead.post(f"/casos/{reference}/formularios/no_existe/editar",
                          {"case_version": version, "redes_apoyo": "x"}).status_code == 404
    assert team.lead.get(f"/casos/{reference}/formularios/no_existe").status_code == 404
    assert team.lead.get(f"/casos/{reference}/formularios/informe_social?revision=99").status_code == 404
    assert team.lead.get("/casos/TP-0000-0000").status_code == 404
    assert stored(app, reference) == before


def test_a_post_by_a_node_outside_the_case_is_refused_with_403(app: Any, team: Team) -> None:
    reference = writing_informe(app, team)
    before = stored(app, reference)
    version = str(before["version"])

    for url, data in ((f"/casos/{reference}/acciones/cerrar",
                       {"case_version": version, "motivo": "desiste", "fecha_cierre": "2026-11-18"}),
                      (f"/casos/{reference}/acciones/enviar_informe", {"case_version": version}),
                      (f"/casos/{reference}/formularios/informe_social/editar",
                       {"case_version": version, **informe_post()})):
        response = team.outsider.post(url, data)
        assert response.status_code == 403, (url, response.status_code)
        assert "Sin acceso" in response.text
    assert team.outsider.get(f"/casos/{reference}").status_code == 403
    assert stored(app, reference) == before


def test_a_post_by_a_node_in_the_case_whose_role_may_not_act_is_refused_with_403(app: Any, team: Team) -> None:
    reference = filed(team)
    before = stored(app, reference)

    # The detecting node may read the case, but taking it is for the focal point.
    response = team.health.post(f"/casos/{reference}/acciones/tomar_caso", {"case_version": str(before["version"])})

    assert response.status_code == 403
    assert "no permiten «Tomar para evaluación»" in response.text
    assert stored(app, reference) == before


# -- double submission ----------------------------------------------------------------------------

@both_backends
def test_the_same_ficha_posted_twice_creates_one_case_and_the_second_post_leads_to_it(
        app: Any, team: Team) -> None:
    before = totals(app)["cases"]
    page = team.health.get("/fichas/nueva")
    data = {**hidden_inputs(page.text), **ficha_post()}
    assert data["intake_token"]

    first = team.health.client.post("/fichas/nueva", data=data)
    second = team.health.client.post("/fichas/nueva", data=data)

    assert first.status_code == 303 and second.status_code == 303
    assert second.headers["Location"] == first.headers["Location"]
    assert totals(app)["cases"] == before + 1
    assert "Esta Ficha ya había sido enviada" in team.health.get(second.headers["Location"]).text


@both_backends
def test_pressing_an_action_button_twice_applies_it_once(app: Any, team: Team) -> None:
    reference = filed(team)
    case_page = team.coordinator.get(f"/casos/{reference}").text
    data = {"csrf_token": hidden_inputs(case_page)["csrf_token"],
            "case_version": re.search(r'name="case_version" value="(\d+)"', case_page).group(1)}

    first = team.coordinator.client.post(f"/casos/{reference}/acciones/tomar_caso", data=data)
    second = team.coordinator.client.post(f"/casos/{reference}/acciones/tomar_caso", data=data)

    assert (first.status_code, second.status_code) == (303, 409)
    assert stored(app, reference)["state"] == "en_evaluacion"
    assert actions_done(app, reference, "tomar_caso") == 1


@both_backends
def test_confirming_an_action_form_twice_applies_it_once(app: Any, team: Team) -> None:
    reference = taken(team)
    url = f"/casos/{reference}/acciones/solicitar_informacion"
    data = {**hidden_inputs(team.coordinator.get(url).text), "preguntas": "¿Tiene dónde dormir hoy?"}

    first = team.coordinator.client.post(url, data=data)
    second = team.coordinator.client.post(url, data=data)

    assert (first.status_code, second.status_code) == (303, 409)
    held = stored(app, reference)
    assert actions_done(app, reference, "solicitar_informacion") == 1
    assert [r for r in held["records"] if r[0] == "solicitud_informacion"] == [
        ("solicitud_informacion", 1, "submitted", True, True)]


@both_backends
def test_pressing_save_twice_on_a_draft_saves_it_once(app: Any, team: Team) -> None:
    reference = writing_informe(app, team)
    url = f"/casos/{reference}/formularios/informe_social/editar"
    data = {**hidden_inputs(team.lead.get(url).text), "redes_apoyo": "Una prima en Santiago."}

    first = team.lead.client.post(url, data=data)
    second = team.lead.client.post(url, data=data)

    assert (first.status_code, second.status_code) == (303, 409)
    assert STALE in second.text
    assert actions_done(app, reference, "informe_social") == 1


# -- transition forms with errors -----------------------------------------------------------------

def test_closing_without_a_reason_is_refused_keeps_what_was_typed_and_leaves_the_case_open(
        app: Any, team: Team) -> None:
    reference = activated(app, team)
    before = stored(app, reference)
    typed = {"fecha_cierre": "2026-11-17", "observaciones": "La persona se trasladó a\nValparaíso."}

    response = team.coordinator.submit(f"/casos/{reference}/acciones/cerrar", typed)

    assert response.status_code == 400
    assert NOT_APPLIED in response.text
    assert_field_error(response.text, "motivo", REQUIRED)
    assert_kept(response.text, typed)
    assert stored(app, reference) == before


def test_closing_for_an_assisted_return_not_declared_voluntary_is_refused(app: Any, team: Team) -> None:
    reference = activated(app, team)
    before = stored(app, reference)
    typed = {"motivo": "retorno_asistido", "fecha_cierre": "2026-11-17"}

    response = team.coordinator.submit(f"/casos/{reference}/acciones/cerrar", typed)

    assert response.status_code == 400
    assert_field_error(response.text, "retorno_voluntario", REQUIRED)
    assert_kept(response.text, typed)
    assert stored(app, reference) == before


def test_a_residence_granted_for_six_months_is_refused_with_the_twelve_month_rule(app: Any, team: Team) -> None:
    reference = with_residence_request(app, team, "en_tramite")
    before = stored(app, reference)
    typed = {"fecha_resolucion": "2026-11-18", "numero_permiso": "RT-2026-0042", "vigencia_inicio": "2026-11-18",
             "vigencia_fin": "2027-05-18", "permiso_trabajo": "y", "observaciones": "Con permiso de trabajo."}

    response = team.migration.submit(f"/casos/{reference}/acciones/otorgar_residencia", typed)

    assert response.status_code == 400
    assert_field_error(response.text, "vigencia_fin",
                       "La residencia temporal para víctimas de trata es de al menos 12 meses (Ley 21.325).")
    assert_kept(response.text, typed)
    assert stored(app, reference) == before  # still en_tramite, no resolution recorded


@pytest.mark.parametrize("track_state", ["preparando", "presentada", "en_tramite"])
def test_closing_for_an_assisted_return_while_a_residence_request_declares_grave_danger_is_blocked_by_art_71(
        app: Any, team: Team, track_state: str) -> None:
    reference = with_residence_request(app, team, track_state, peligro_grave="y")
    before = stored(app, reference)
    typed = {"motivo": "retorno_asistido", "retorno_voluntario": "y", "fecha_cierre": "2026-11-18",
             "observaciones": "Pide volver a Venezuela."}

    response = team.coordinator.submit(f"/casos/{reference}/acciones/cerrar", typed)

    assert response.status_code == 409
    assert "Retorno bloqueado (Ley 21.325, residencia temporal para víctimas de trata)" in response.text
    assert_kept(response.text, typed)
    assert stored(app, reference) == before
    assert before["state"] == "activado"


def test_closing_for_an_assisted_return_without_the_persons_own_return_on_record_is_refused(
        app: Any, team: Team) -> None:
    """Without grave danger declared the law does not block it, but a return is hers or none (issue 15
    item 4): closing as «retorno asistido» needs the voluntary return track concluded
    (tests/test_return_rules.py and the browser path show the way through)."""
    reference = with_residence_request(app, team, "en_tramite", peligro_grave=None)
    before = stored(app, reference)
    typed = {"motivo": "retorno_asistido", "retorno_voluntario": "y", "fecha_cierre": "2026-11-18"}

    response = team.coordinator.submit(f"/casos/{reference}/acciones/cerrar", typed)

    assert response.status_code == 409
    assert "El retorno asistido es voluntario: para cerrar por retorno asistido" in response.text
    assert "Retorno bloqueado" not in response.text
    assert_kept(response.text, typed)
    assert stored(app, reference) == before


# -- drafts ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("children", "message"), [
    pytest.param("-3", "El número debe estar entre 0 y 30.", id="negative"),
    pytest.param("31", "El número debe estar entre 0 y 30.", id="too many"),
    pytest.param("abc", "No es un valor entero válido.", id="letters"),
    pytest.param("2.5", "No es un valor entero válido.", id="a fraction"),
])
def test_a_draft_with_an_impossible_number_of_children_is_refused_and_keeps_the_rest(
        app: Any, team: Team, children: str, message: str) -> None:
    reference = writing_informe(app, team)
    url = f"/casos/{reference}/formularios/informe_social/editar"
    ok(team.lead.submit(url, {"redes_apoyo": "Una prima."}))  # an earlier draft, which must survive
    before = stored(app, reference)
    typed = informe_post(hijos_en_chile=children, hijos_en_origen="1", riesgo="medio")

    response = team.lead.submit(url, typed)

    assert response.status_code == 400
    assert NOT_SAVED in response.text
    assert_field_error(response.text, "hijos_en_chile", message)
    assert list(errors_in(response.text)) == ["hijos_en_chile"]
    assert_kept(response.text, typed)
    assert stored(app, reference) == before
    assert 'value="Una prima."' not in response.text
    assert "Una prima.</textarea>" in team.lead.get(url).text  # the saved draft is unchanged


def test_a_partial_draft_is_saved_and_shown_again_as_typed(app: Any, team: Team) -> None:
    reference = writing_informe(app, team)
    url = f"/casos/{reference}/formularios/informe_social/editar"
    typed = {"redes_apoyo": "Una prima en Santiago.", "hijos_en_chile": "0", "riesgo": "alto"}

    ok(team.lead.submit(url, typed))

    held = stored(app, reference)
    assert held["state"] == "informe_social"
    assert [r for r in held["records"] if r[0] == "informe_social"] == [("informe_social", 1, "draft", True, False)]
    assert_kept(team.lead.get(url).text, typed)


# -- a failure in the middle of a transition leaves nothing half-written --------------------------

@both_backends
def test_activating_with_a_lead_node_deactivated_after_the_form_was_opened_changes_nothing(
        app: Any, team: Team, network: Network) -> None:
    reference = taken(team)
    url = f"/casos/{reference}/acciones/activar"
    sernameg = str(node_id(app, "SERNAMEG"))
    page = team.coordinator.get(url)
    assert f'value="{sernameg}"' in page.text  # offered when the form was opened
    before, rows = stored(app, reference), totals(app)
    network.deactivate("SERNAMEG")  # an administrator deactivates it meanwhile

    response = team.coordinator.client.post(url, data={**hidden_inputs(page.text), "nodo_lider": sernameg,
                                                       "fundamento": "Casa de acogida disponible."})

    refused(response, 400, 409)
    assert_field_error(response.text, "nodo_lider", INVALID_CHOICE)
    assert stored(app, reference) == before
    assert totals(app) == rows


@both_backends
def test_submitting_a_residence_request_when_no_node_holds_the_migration_service_changes_nothing(
        app: Any, team: Team, network: Network) -> None:
    """presentar_residencia marks the request submitted, then adds the migration service: the second fails."""
    reference = with_residence_request(app, team, "preparando")
    case_page = team.lead.get(f"/casos/{reference}").text
    before, rows = stored(app, reference), totals(app)
    network.unassign("servicio_migraciones")  # an administrator removes the assignment meanwhile

    version = re.search(r'acciones/presentar_residencia"[\s\S]*?name="case_version" value="(\d+)"', case_page)
    response = team.lead.client.post(f"/casos/{reference}/acciones/presentar_residencia", data={
        "csrf_token": hidden_inputs(case_page)["csrf_token"], "case_version": version.group(1)})

    assert response.status_code == 409
    assert "Ningún nodo tiene asignada la función «Servicio Nacional de Migraciones»" in response.text
    after = stored(app, reference)
    assert after == before
    assert ("solicitud_residencia", 1, "draft", True, True) in after["records"]
    assert after["tracks"] == {"residencia": "preparando"}
    assert totals(app) == rows
