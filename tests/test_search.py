"""Finding a case (issue 16): by reference, by document number, by names with the date of birth, through the
blind indexes the duplicate check writes; only cases the user may open, and nothing about any other; the
query never in a URL, a log or the audit log; the worklists' text filter over the decrypted page only."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select

from referral.audit.models import AuditEvent
from referral.cases.duplicates import digests, query_digests
from referral.cases.search import fold, matches, parse_query
from referral.extensions import database

from .backends import both_backends
from .browser import Browser
from .clocks import file_case
from .factories import VICTIM_DOCUMENT, VICTIM_GIVEN, VICTIM_SURNAMES, ficha_values
from .units import unit_of_work

NAMES = f"{VICTIM_GIVEN} {VICTIM_SURNAMES}"
BIRTH = "02-04-1996"
OTHER = {"nombres": "Marisol", "apellidos": "Cárdenas Ruiz", "fecha_nacimiento": dt.date(1990, 1, 9),
         "numero_documento": "PE7712034", "telefono_seguro": "+56 9 7000 1122"}
NO_RESULTS = "No se encontraron casos que usted pueda abrir."


def signed_in(make_browser: Any, name: str) -> Browser:
    browser = make_browser()
    assert browser.login(name).status_code == 302, name
    return browser


def search(browser: Browser, q: str, nacimiento: str = "") -> Any:
    return browser.submit("/buscar", {"q": q, "nacimiento": nacimiento})


def found(html: str) -> list[str]:
    return re.findall(r'<a href="/casos/(TP-[0-9A-Z]{4}-[0-9A-Z]{4})" class="ref">', html)


def bare(html: str) -> str:
    """The page without its CSRF tokens (signed with the time, so they differ once a second has passed), the
    only part that varies between requests: the header's inputs and WTForms' hidden_tag (id, name, type, value)."""
    return re.sub(r'(<input[^>]*\bname="csrf_token"[^>]*\bvalue=")[^"]*"', r'\1"', html)


# -- the scheme: the duplicate check's own normalisation and keys ------------------------------------------


def test_the_query_is_read_as_a_reference_a_document_or_names_with_a_date() -> None:
    assert parse_query(" tp-7kq2-9xhf ").reference == "TP-7KQ2-9XHF"
    assert parse_query("Ana Pérez 02-04-1996") == parse_query("Ana Pérez", dt.date(1996, 4, 2))
    assert parse_query("1996-04-02 Ana Pérez").date == dt.date(1996, 4, 2)
    assert parse_query("Ana Pérez 31-02-1996").date is None  # no such day: left as typed, never guessed
    assert parse_query("VE4417829") .reference is None


def test_a_search_computes_exactly_the_digests_written_at_filing(app: Any) -> None:
    with unit_of_work(app) as ctx:
        filed = dict(digests(ctx, ficha_values()))
        by_names = dict(query_digests(ctx, "quintero BELANDRIA, Yulimar andreina", dt.date(1996, 4, 2)))
        by_document = dict(query_digests(ctx, "ve-441.782-9", None))
        assert by_names == {"nombre_y_nacimiento": filed["nombre_y_nacimiento"]}
        assert by_document == {"documento": filed["documento"]}
        # names without the date of birth, one word, or a "number" without digits identify nobody
        assert query_digests(ctx, NAMES, None) == []
        assert query_digests(ctx, "Yulimar", dt.date(1996, 4, 2)) == []
        assert query_digests(ctx, "sin documento", None) == []


def test_the_text_filter_folds_case_and_accents_and_needs_every_word() -> None:
    assert fold("Andreína  QUINTERO-belandria") == "andreina quintero belandria"
    assert matches(("TP-AAAA-BBBB", "Yulimar Andreína · Quintero Belandria · Mujer"), "andreina quintero")
    assert not matches(("TP-AAAA-BBBB", "Yulimar Andreína · Quintero Belandria"), "andreina ruiz")


# -- finding a case in the browser -----------------------------------------------------------------------


@both_backends
def test_a_participant_finds_the_case_by_names_and_birth_date_by_document_and_by_reference(
        app: Any, make_browser: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    addresses: list[str] = []

    @app.after_request
    def remember(response: Any) -> Any:
        from flask import request
        addresses.extend((request.full_path, response.headers.get("Location", "")))
        return response

    reference = file_case(app)
    other = file_case(app, **OTHER)
    focal = signed_in(make_browser, "coordinador.rm")
    assert 'action="/buscar"' in focal.get("/casos").text  # the header's search box

    by_names = search(focal, f"{NAMES} {BIRTH}")
    assert by_names.status_code == 200 and found(by_names.text) == [reference]
    assert VICTIM_SURNAMES in by_names.text and other not in by_names.text
    assert found(search(focal, "quintero belandria yulimar andreina", "1996-04-02").text) == [reference]
    assert found(search(focal, "ve 4417829").text) == [reference]
    assert found(search(focal, NAMES, "1996-04-03").text) == []  # another date of birth: another person
    by_reference = search(focal, reference.lower())
    assert by_reference.status_code == 303 and by_reference.headers["Location"] == f"/casos/{reference}"

    # The query travelled in POST bodies only: never in a URL, never in a log, never in the audit log.
    for secret in (VICTIM_GIVEN.split()[0], VICTIM_SURNAMES.split()[0], "4417829", "1996"):
        assert not any(secret.lower() in address.lower() for address in addresses), secret
        assert secret not in caplog.text, secret
    with unit_of_work(app) as ctx:
        searches = list(ctx.session.scalars(select(AuditEvent).where(AuditEvent.action == "search")
                                            .order_by(AuditEvent.seq)))
    assert [e.details for e in searches] == [
        {"kind": "person", "count": 1}, {"kind": "person", "count": 1}, {"kind": "person", "count": 1},
        {"kind": "person", "count": 0}, {"kind": "reference", "count": 1}]
    assert all(e.case_pseudonym is None and e.subject is None for e in searches)


def test_a_query_in_the_url_searches_nothing(app: Any, make_browser: Any) -> None:
    file_case(app)
    focal = signed_in(make_browser, "coordinador.rm")
    page = focal.get(f"/buscar?q={VICTIM_DOCUMENT}")
    assert page.status_code == 200 and found(page.text) == [] and VICTIM_SURNAMES not in page.text


@contextmanager
def statements(app: Any) -> Iterator[list[str]]:
    """The SQL statements run meanwhile: what a request does, whatever it answers."""
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = database.engine(app)
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


@both_backends
def test_a_node_learns_nothing_of_a_case_it_may_not_open(app: Any, make_browser: Any) -> None:
    """The attack: an outside node probes a person, or a reference, and compares the answers."""
    outsider = signed_in(make_browser, "coordinador.ta")  # another region: takes part in none of these cases
    query = f"{NAMES} {BIRTH}"
    before = search(outsider, query)  # nobody of that name has a case yet
    before_document = search(outsider, VICTIM_DOCUMENT)
    reference = file_case(app)
    after = search(outsider, query)  # now someone has, but not with this node
    after_document = search(outsider, VICTIM_DOCUMENT)
    assert before.status_code == after.status_code == 200
    assert NO_RESULTS in after.text and reference not in after.text and found(after.text) == []
    assert bare(before.text) == bare(after.text)
    assert bare(before_document.text) == bare(after_document.text)

    # A reference: the same page, and the same statements, for "no such case" and "not yours".
    stranger = "TP-0000-0000"
    assert stranger != reference
    with statements(app) as missing:
        no_case = search(outsider, stranger)
    with statements(app) as refused:
        not_yours = search(outsider, reference)
    assert no_case.status_code == not_yours.status_code == 200
    assert bare(no_case.text).replace(stranger, "·") == bare(not_yours.text).replace(reference, "·")
    assert len(missing) == len(refused)
    assert NO_RESULTS in not_yours.text

    # ...while a node of the case finds it with the very same queries (so the test above can fail).
    focal = signed_in(make_browser, "coordinador.rm")
    assert found(search(focal, query).text) == [reference]
    assert search(focal, reference).status_code == 303


def test_an_ended_relation_ends_finding_the_case(app: Any, make_browser: Any) -> None:
    """A node whose relation is no longer live is an outsider to the search too: the access rule is one."""
    from referral.kernel.models import Case, Participant
    reference = file_case(app)
    focal = signed_in(make_browser, "coordinador.rm")
    assert found(search(focal, VICTIM_DOCUMENT).text) == [reference]
    with unit_of_work(app) as ctx:
        case_id = ctx.session.scalar(select(Case.id).where(Case.reference == reference))
        for participant in ctx.session.scalars(select(Participant).where(
                Participant.case_id == case_id, Participant.relation == "punto_focal")):
            participant.active = False
        ctx.session.commit()
    assert NO_RESULTS in search(focal, VICTIM_DOCUMENT).text
    assert search(focal, reference).status_code == 200


def test_a_search_that_identifies_nobody_says_how_to_search_and_bad_input_keeps_what_was_typed(
        app: Any, make_browser: Any) -> None:
    file_case(app)
    focal = signed_in(make_browser, "coordinador.rm")
    names_only = search(focal, NAMES)  # names without a date of birth identify nobody: nothing is looked up
    assert names_only.status_code == 200 and found(names_only.text) == []
    assert "junto con la fecha de nacimiento" in names_only.text
    empty = search(focal, "   ")
    assert empty.status_code == 400 and "Escriba una referencia" in empty.text
    bad_date = search(focal, NAMES, "1996-13-45")
    assert bad_date.status_code == 400 and "no es válida" in bad_date.text
    assert f'value="{NAMES}"' in bad_date.text


def test_a_role_without_case_access_has_no_search(app: Any, make_browser: Any) -> None:
    auditor = signed_in(make_browser, "auditor")
    assert 'action="/buscar"' not in auditor.get("/protocolo").text
    assert auditor.get("/buscar").status_code == 403
    assert auditor.post("/buscar", {"q": VICTIM_DOCUMENT}).status_code == 403


# -- the worklists' text filter ----------------------------------------------------------------------------


@both_backends
def test_a_worklist_filters_its_page_by_the_decrypted_summary_without_the_text_in_a_url(
        app: Any, make_browser: Any) -> None:
    victim = file_case(app)
    other = file_case(app, **OTHER)
    focal = signed_in(make_browser, "coordinador.rm")
    assert set(found(focal.get("/bandeja/triaje").text)) == {victim, other}
    page = focal.get("/bandeja/triaje").text
    assert 'name="texto"' in page and re.search(r'<form method="post" action="/bandeja/triaje"', page)
    filtered = focal.post("/bandeja/triaje", {"texto": "cardenas marisol"})
    assert filtered.status_code == 200 and found(filtered.text) == [other]
    assert "1 de 2 casos de esta página" in filtered.text
    assert found(focal.post("/casos", {"texto": "QUINTERO"}).text) == [victim]
    assert found(focal.post("/casos", {"texto": other.lower()}).text) == [other]  # the reference too
    assert found(focal.post("/casos?region=CL-TA", {"texto": "quintero"}).text) == []  # with the other filters
    assert set(found(focal.post("/casos", {"texto": ""}).text)) == {victim, other}
    # In a query string it is no filter at all: the text is never read from a URL.
    assert set(found(focal.get("/casos?texto=marisol").text)) == {victim, other}
    assert focal.post("/casos", {"texto": "marisol"}, ).status_code == 200
    tokenless = focal.client.post("/casos", data={"texto": "marisol"})
    assert tokenless.status_code == 400
