"""Drafts of the Ficha: saved unfinished by its author alone, sealed, listed, sent later, discarded, expired.

The attacks are tests: everyone else (a colleague of the same node, a coordinator, national
coordination, an administrator, an auditor) finds nothing, and cannot tell an existing draft from
one that never was.
"""

from __future__ import annotations

import base64
import os
import re
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select, update

from referral.audit.models import AuditEvent
from referral.auth.models import User
from referral.cases.drafts import RETENTION, draft_values_of, expire_drafts
from referral.kernel.models import Case, IntakeDraft
from referral.keys.rotation import master_keys_in_use, rotate_master
from referral.vault import DecryptionFailed, MasterKey, MasterKeyring, Vault

from .backends import both_backends
from .browser import Browser, hidden_inputs
from .conftest import MASTER_KEY
from .factories import VICTIM_DOCUMENT, VICTIM_GIVEN, VICTIM_PHONE, VICTIM_SURNAMES, ficha_post
from .units import unit_of_work

AUTHOR = "gestor.rm"  # a case worker of CAVD Metropolitana
OTHERS = ("coordinador.rm",  # the same node (and its focal point)
          "coordinacion.nacional", "salud.rm", "ong")
NO_INTAKE = ("administrador", "auditor")  # may not file a Ficha at all: 403 before any draft is looked up
PERSONAL = (VICTIM_GIVEN, VICTIM_SURNAMES, VICTIM_DOCUMENT, VICTIM_PHONE)


def signed_in(make_browser: Any, name: str) -> Browser:
    person: Browser = make_browser()
    assert person.login(name).status_code in (302, 303)
    return person


def draft_url(response: Any) -> str:
    assert response.status_code == 303, response.status_code
    match = re.search(r"/borradores/[0-9a-f-]{36}$", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(0)


def save_new(person: Browser, **fields: Any) -> str:
    return draft_url(person.submit("/fichas/nueva", {"guardar_borrador": "1", **fields}))


def partial() -> dict[str, Any]:
    """Incomplete and invalid for submission: a detection date in the future, most fields missing."""
    return {"nombres": VICTIM_GIVEN, "apellidos": VICTIM_SURNAMES, "numero_documento": VICTIM_DOCUMENT,
            "telefono_seguro": VICTIM_PHONE, "fecha_deteccion": "2031-01-01T10:00", "region": "CL-RM"}


def drafts_in_db(app: Any) -> list[IntakeDraft]:
    with unit_of_work(app) as ctx:
        return list(ctx.session.scalars(select(IntakeDraft)))


def events(app: Any, prefix: str = "draft.") -> list[AuditEvent]:
    with unit_of_work(app) as ctx:
        return list(ctx.session.scalars(select(AuditEvent).where(AuditEvent.action.startswith(prefix))
                                        .order_by(AuditEvent.seq)))


# -- saving, listing, reopening -------------------------------------------------------------------


@both_backends
def test_an_incomplete_invalid_ficha_is_saved_sealed_and_reopened_with_every_value(app: Any, make_browser: Any) -> None:
    author = signed_in(make_browser, AUTHOR)
    url = save_new(author, **partial())
    page = author.get(url)
    assert page.status_code == 200
    for value in (*PERSONAL, "2031-01-01T10:00"):
        assert value in page.text  # reopened into the Ficha form, with what was typed
    listing = author.get("/borradores")
    assert f'href="{url}"' in listing.text and VICTIM_GIVEN in listing.text
    assert re.search(r'href="/borradores"[^>]*>Mis borradores <span class="count">1</span>', listing.text)

    [row] = drafts_in_db(app)
    assert row.expires_at - row.updated_at == RETENTION
    stored = b"".join(bytes(v) if isinstance(v, bytes) else str(v).encode() for v in (
        row.id, row.author_user_id, row.form_key, row.form_version, row.token, row.key_wrapped, row.master_key_id,
        row.data, row.created_at, row.updated_at, row.expires_at))
    for value in PERSONAL:
        assert value.encode() not in stored  # nothing personal in clear, anywhere in the row
    assert not any(value in str(event.details) + str(event.subject) for event in events(app) for value in PERSONAL)
    assert [e.action for e in events(app)] == ["draft.create"] and events(app)[0].subject == str(row.id)


def test_saving_again_updates_the_same_draft_and_a_double_click_makes_one(app: Any, make_browser: Any) -> None:
    author = signed_in(make_browser, AUTHOR)
    page = author.get("/fichas/nueva")
    fields = {**hidden_inputs(page.text), "guardar_borrador": "1", "nombres": VICTIM_GIVEN}
    first = draft_url(author.client.post("/fichas/nueva", data=fields))
    second = draft_url(author.client.post("/fichas/nueva", data=fields))  # the same page, clicked twice
    assert first == second and len(drafts_in_db(app)) == 1
    again = author.submit(first, {"guardar_borrador": "1", "nombres": "Otra", "apellidos": VICTIM_SURNAMES})
    assert draft_url(again) == first and len(drafts_in_db(app)) == 1
    assert "Otra" in author.get(first).text


@pytest.mark.parametrize("field,value", [("nombres", "x" * 5000), ("fecha_deteccion", "ayer"),
                                         ("nacionalidad", "NO-EXISTE"), ("sexo", "<script>")])
def test_a_draft_with_a_value_of_the_wrong_type_or_size_is_refused_and_keeps_what_was_typed(
        app: Any, make_browser: Any, field: str, value: str) -> None:
    author = signed_in(make_browser, AUTHOR)
    refused = author.submit("/fichas/nueva", {"guardar_borrador": "1", "apellidos": VICTIM_SURNAMES, field: value})
    assert refused.status_code == 400
    assert VICTIM_SURNAMES in refused.text and "no se guardó" in refused.text
    assert drafts_in_db(app) == []


# -- sending --------------------------------------------------------------------------------------


@both_backends
def test_sending_a_draft_files_the_case_once_and_deletes_the_draft(app: Any, make_browser: Any) -> None:
    author = signed_in(make_browser, AUTHOR)
    url = save_new(author, **partial())
    refused = author.submit(url, partial())  # still incomplete: nothing is filed, the draft stays
    assert refused.status_code == 400 and VICTIM_GIVEN in refused.text and len(drafts_in_db(app)) == 1

    page = author.get(url)
    fields = {**hidden_inputs(page.text), **ficha_post()}
    sent = author.client.post(url, data=fields)
    assert sent.status_code == 303 and "/casos/TP-" in sent.headers["Location"]
    again = author.client.post(url, data=fields)  # the double click
    assert again.status_code == 303 and again.headers["Location"] == sent.headers["Location"]
    with unit_of_work(app) as ctx:
        assert ctx.session.scalar(select(func.count()).select_from(Case)) == 1
    assert drafts_in_db(app) == []
    assert author.get(url).status_code == 404
    assert [e.action for e in events(app)] == ["draft.create", "draft.send"]
    assert events(app)[-1].case_pseudonym is not None
    case_page = author.get(sent.headers["Location"])
    assert VICTIM_GIVEN in case_page.text


def test_filing_the_page_directly_after_saving_a_draft_of_it_sends_that_draft(app: Any, make_browser: Any) -> None:
    author = signed_in(make_browser, AUTHOR)
    page = author.get("/fichas/nueva")
    fields = hidden_inputs(page.text)
    draft_url(author.client.post("/fichas/nueva", data={**fields, "guardar_borrador": "1", "nombres": "A"}))
    filed = author.client.post("/fichas/nueva", data={**fields, **ficha_post()})  # «back», then «Enviar»
    assert filed.status_code == 303 and "/casos/TP-" in filed.headers["Location"]
    assert drafts_in_db(app) == []


def test_discarding_deletes_the_draft_and_its_key(app: Any, make_browser: Any) -> None:
    author = signed_in(make_browser, AUTHOR)
    url = save_new(author, **partial())
    gone = author.post(f"{url}/descartar")
    assert gone.status_code == 303 and gone.headers["Location"].endswith("/borradores")
    assert drafts_in_db(app) == [] and author.get(url).status_code == 404
    assert author.post(f"{url}/descartar").status_code == 404
    assert [e.action for e in events(app)] == ["draft.create", "draft.discard"]
    assert VICTIM_GIVEN not in author.get("/borradores").text


# -- nobody else ----------------------------------------------------------------------------------


def test_nobody_but_the_author_lists_opens_saves_sends_or_discards_a_draft(app: Any, make_browser: Any) -> None:
    author = signed_in(make_browser, AUTHOR)
    url = save_new(author, **partial())
    never = f"/borradores/{uuid.uuid4()}"
    for name in OTHERS + NO_INTAKE:
        other = signed_in(make_browser, name)
        expected = 403 if name in NO_INTAKE else 404
        listing = other.get("/borradores")
        assert listing.status_code == (403 if name in NO_INTAKE else 200)
        assert VICTIM_GIVEN not in listing.text and url not in listing.text
        for target in (url, never):  # the same answer for a real draft and one that never existed
            assert other.get(target).status_code == expected, (name, target)
            assert other.post(target, {"guardar_borrador": "1", "nombres": "Intruso"}).status_code == expected
            assert other.post(target, ficha_post()).status_code == expected
            assert other.post(f"{target}/descartar").status_code == expected
    page = author.get(url)
    assert page.status_code == 200 and VICTIM_GIVEN in page.text and "Intruso" not in page.text
    with unit_of_work(app) as ctx:
        assert ctx.session.scalar(select(func.count()).select_from(Case)) == 0
    assert [e.action for e in events(app)] == ["draft.create"]


@pytest.mark.parametrize("tampered", ["no-es-un-id", "00000000-0000-0000-0000-000000000000", "1' OR '1'='1",
                                      "%00", "..%2F..%2Fcasos"])
def test_a_tampered_draft_id_is_not_found(app: Any, make_browser: Any, tampered: str) -> None:
    author = signed_in(make_browser, AUTHOR)
    save_new(author, nombres=VICTIM_GIVEN)
    expected = 400 if tampered == "%00" else 404  # a NUL byte is refused before routing (referral/web/input.py)
    assert author.get(f"/borradores/{tampered}").status_code == expected
    assert author.post(f"/borradores/{tampered}/descartar").status_code == expected


def test_a_draft_copied_to_another_author_does_not_open(app: Any, make_browser: Any) -> None:
    author = signed_in(make_browser, AUTHOR)
    url = save_new(author, **partial())
    draft_id = uuid.UUID(url.rsplit("/", 1)[1])
    with unit_of_work(app) as ctx:  # someone with write access re-assigns the row to herself
        thief = ctx.session.scalar(select(User).where(User.email == "coordinador.rm@demo.cl"))
        ctx.session.execute(update(IntakeDraft).values(author_user_id=thief.id))
        ctx.session.commit()
        with pytest.raises(DecryptionFailed):  # the wrap is bound to its author: it does not open for her
            draft_values_of(ctx, thief, draft_id)


def test_a_deactivated_authors_draft_reaches_nobody_and_expires(app: Any, make_browser: Any, clock: Any) -> None:
    author = signed_in(make_browser, AUTHOR)
    url = save_new(author, **partial())
    with unit_of_work(app) as ctx:
        ctx.session.execute(update(User).where(User.email == f"{AUTHOR}@demo.cl").values(active=False))
        ctx.session.commit()
    assert author.get(url).status_code in (302, 303, 401, 403)  # signed out: the session is not hers any more
    again = make_browser()
    again.login(AUTHOR)
    assert again.get(url).status_code in (302, 303)  # cannot sign in
    colleague = signed_in(make_browser, "coordinador.rm")
    assert colleague.get(url).status_code == 404
    clock.advance(days=31)
    with unit_of_work(app) as ctx:
        assert expire_drafts(ctx, clock()) == 1
        ctx.session.commit()
    assert drafts_in_db(app) == []


# -- expiry and keys ------------------------------------------------------------------------------


def test_a_draft_expires_after_its_retention_and_the_sweep_shreds_it(app: Any, make_browser: Any, clock: Any) -> None:
    from referral.tasks import sweep_clocks

    author = signed_in(make_browser, AUTHOR)
    url = save_new(author, **partial())
    clock.advance(days=29)
    with app.app_context():
        sweep_clocks()
    assert len(drafts_in_db(app)) == 1 and author.get(url).status_code == 200
    author.submit(url, {"guardar_borrador": "1", "nombres": "Sigue"})  # saving again restarts the retention
    clock.advance(days=29)
    with app.app_context():
        sweep_clocks()
    assert len(drafts_in_db(app)) == 1
    clock.advance(days=2)
    assert author.get(url).status_code == 404  # expired: gone for the author even before the sweep runs
    with app.app_context():
        sweep_clocks()
    assert drafts_in_db(app) == []
    assert [e.action for e in events(app)] == ["draft.create", "draft.save", "draft.expire"]


@both_backends
def test_master_key_rotation_rewraps_draft_keys_so_the_old_key_can_go(app: Any, make_browser: Any) -> None:
    author = signed_in(make_browser, AUTHOR)
    url = save_new(author, **partial())
    old = MasterKey(base64.b64decode(MASTER_KEY))
    new = MasterKey(os.urandom(32))
    app.extensions["referral.vault"] = Vault(MasterKeyring(new, [old]))
    report = rotate_master(lambda: unit_of_work(app))
    assert report.retired == [old.key_id]
    [row] = drafts_in_db(app)
    assert row.master_key_id == new.key_id
    with unit_of_work(app) as ctx:
        assert master_keys_in_use(ctx) == {new.key_id}
    app.extensions["referral.vault"] = Vault(new)  # the old key removed: the draft still opens
    assert VICTIM_GIVEN in author.get(url).text
