"""Erasing a case (crypto-shredding): only the administrator, no row and no key left, nothing recoverable.

Every test files real cases through the services or the browser, erases them through the web form, the
service or `flask cases erase`, and then looks at what is left: the tables, the raw SQLite file and its
write-ahead log, a pg_dump, and, holding the master key and every node key, what could still be opened.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from referral.auth.models import User
from referral.cases.erasure import ERASED_TABLES, REASONS, AlreadyErased, erase_case, may_erase
from referral.kernel.errors import AccessDenied, CaseNotFound, InvalidInput
from referral.cases.intake import file_intake
from referral.kernel.models import BlindIndex, Case, CaseTombstone, FormRecord
from referral.cases.reading import case_page
from referral.kernel.records import open_values
from referral.context import Context
from referral.extensions import database
from referral.kernel.key_models import CaseKeyWrap, NodeKey
from referral.kernel.keystore import stored
from referral.network.models import Node
from referral.vault import CaseCipher, Cell, DecryptionFailed

from .backends import both_backends
from .browser import Browser, hidden_inputs
from .factories import VICTIM_DOCUMENT, VICTIM_GIVEN, VICTIM_PHONE, VICTIM_SURNAMES, ficha_values
from .units import unit_of_work

VICTIM = (VICTIM_GIVEN, VICTIM_SURNAMES, VICTIM_DOCUMENT, VICTIM_PHONE)
# The case that is not erased: someone else, so that nothing of the erased victim is shared with it.
OTHER = {"nombres": "Marisol", "apellidos": "Cárdenas Ruiz", "numero_documento": "PE7712034",
         "telefono_seguro": "+56 9 7000 1122", "fecha_nacimiento": dt.date(1990, 1, 9)}
CASE_TABLES = ("cases", "form_records", "case_events", "case_participants", "case_tracks", "case_keys",
               "case_key_wraps", "blind_indexes")
ERASE_URL = "/administracion/eliminar-caso"
ERASED_URL = "/administracion/casos-eliminados"
ADMIN_EMAIL = "administrador@demo.cl"
# Every demo role but the administrator, with one demo user each.
NOT_ADMINISTRATORS = ("salud.rm", "coordinador.rm", "gestor.rm", "coordinacion.nacional", "migraciones", "auditor")
postgresql_only = pytest.mark.parametrize(
    "backend", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)


# -- helpers ----------------------------------------------------------------------------------------


def user(ctx: Context, name: str) -> User:
    found = ctx.session.scalar(select(User).where(User.email == f"{name}@demo.cl"))
    assert found is not None, name
    return found


def file_case(app: Any, by: str = "salud.rm", **changes: Any) -> str:
    """A Ficha filed by `by` through the service, committed; its reference."""
    with unit_of_work(app) as ctx:
        case = file_intake(ctx, user(ctx, by), ficha_values(**changes), uuid.uuid4().hex)
        ctx.session.commit()
        return case.reference


def case_id(app: Any, reference: str) -> uuid.UUID:
    with unit_of_work(app) as ctx:
        found = ctx.session.scalar(select(Case.id).where(Case.reference == reference))
        assert found is not None, reference
        return found


def rows_of_case(app: Any, case: uuid.UUID) -> dict[str, int]:
    """How many rows each case table holds for the case (by its id, as the database sees it)."""
    counts = {}
    with database.engine(app).connect() as connection:
        for table in CASE_TABLES:
            column = "id" if table == "cases" else "case_id"
            counts[table] = connection.execute(
                text(f"SELECT count(*) FROM {table} WHERE {column} = :id"), {"id": _uuid_param(app, case)}).scalar()
    return counts


def _uuid_param(app: Any, case: uuid.UUID) -> Any:
    # SQLAlchemy stores Uuid as 32 hex characters on SQLite and as uuid on PostgreSQL.
    return case.hex if database.engine(app).dialect.name == "sqlite" else case


@dataclass
class Secrets:
    """The erased case's stored bytes, taken before the erasure: what must be gone after it."""

    case_id: uuid.UUID
    wraps: list[bytes]
    ciphertexts: dict[uuid.UUID, bytes]  # form_records.id → sealed data
    summary: bytes
    digests: list[bytes]

    def all(self) -> list[bytes]:
        return [*self.wraps, *self.ciphertexts.values(), self.summary, *self.digests]


def secrets_of(app: Any, reference: str) -> Secrets:
    with unit_of_work(app) as ctx:
        case = ctx.session.scalar(select(Case).where(Case.reference == reference))
        wraps = list(ctx.session.scalars(select(CaseKeyWrap.wrapped).where(CaseKeyWrap.case_id == case.id)))
        ciphertexts = dict(ctx.session.execute(
            select(FormRecord.id, FormRecord.data).where(FormRecord.case_id == case.id)).all())
        digests = list(ctx.session.scalars(select(BlindIndex.digest).where(BlindIndex.case_id == case.id)))
        assert case.summary
        return Secrets(case.id, wraps, ciphertexts, case.summary, digests)


def openers(ctx: Context) -> list[CaseCipher]:
    """Everything an attacker holding the master key and every node private key gets from the database:
    each remaining wrap opened with each node key, under the case it claims and under every case id known."""
    node_keys = [ctx.vault.open_node_key(stored(row)) for row in ctx.session.scalars(select(NodeKey))
                 if row.private_wrapped is not None]
    assert node_keys
    opened: list[CaseCipher] = []
    for wrap in ctx.session.scalars(select(CaseKeyWrap)):
        for node_key in node_keys:
            try:
                opened.append(ctx.vault.unwrap_case_key(wrap.wrapped, wrap.case_id, wrap.key_version, node_key))
            except DecryptionFailed:
                pass
    return opened


def opens_any(ciphers: list[CaseCipher], secrets: Secrets) -> bool:
    """Whether one of these data keys opens a saved ciphertext of the case (in its own cell)."""
    for cipher in ciphers:
        as_erased = CaseCipher(secrets.case_id, cipher.key_version, cipher._data_key)
        for record_id, blob in secrets.ciphertexts.items():
            try:
                as_erased.open(blob, Cell("form_records", "data", record_id))
            except DecryptionFailed:
                continue
            return True
    return False


def erase_form(browser: Browser, reference: str, reason: str = "retencion", confirmation: str | None = None) -> Any:
    return browser.submit(ERASE_URL, {"reference": reference, "reason": reason,
                                      "confirmation": reference if confirmation is None else confirmation})


def tombstones(app: Any) -> list[tuple[Any, ...]]:
    with database.engine(app).connect() as connection:
        return [tuple(row) for row in connection.execute(text("SELECT * FROM case_tombstones ORDER BY id"))]


def field_block(html: str, name: str) -> str:
    """The <div class="field ..."> of the erase form that holds the input or select `name`."""
    for block in re.findall(r'<div class="field[^"]*">[\s\S]*?</div>', html):
        if f'name="{name}"' in block:
            return block
    raise AssertionError(f"no field {name} on the page")


# -- who may erase ----------------------------------------------------------------------------------


def test_only_the_administrator_may_erase_a_case_and_the_administrator_never_reads_one(app: Any) -> None:
    reference = file_case(app)
    with unit_of_work(app) as ctx:
        for name in NOT_ADMINISTRATORS:
            someone = user(ctx, name)
            assert not may_erase(ctx, someone), name
            with pytest.raises(AccessDenied):
                erase_case(ctx, someone, reference, "retencion", reference)
            ctx.session.rollback()
        assert ctx.session.scalar(select(func.count()).select_from(CaseTombstone)) == 0

    for name in NOT_ADMINISTRATORS:  # nor through the web form
        browser = Browser(app, "demo-protocolo-2026")
        browser.login(name)
        assert browser.get(ERASE_URL).status_code == 403, name
        assert browser.post(ERASE_URL, {"reference": reference, "reason": "retencion",
                                        "confirmation": reference}).status_code == 403, name
        assert browser.get(ERASED_URL).status_code == 403, name
    assert rows_of_case(app, case_id(app, reference))["cases"] == 1

    admin = Browser(app, "demo-protocolo-2026")
    admin.login("administrador")
    assert admin.get(f"/casos/{reference}").status_code == 403  # it may erase the case, never read it
    assert admin.get(f"/casos/{reference}/formularios/ficha").status_code == 403
    with unit_of_work(app) as ctx:
        administrator = user(ctx, "administrador")
        with pytest.raises(AccessDenied):
            case_page(ctx, administrator, reference, "es")
        assert may_erase(ctx, administrator)
        tombstone = erase_case(ctx, administrator, reference, "retencion", reference)
        ctx.session.commit()
        assert tombstone.reference == reference


def test_an_inactive_administrator_may_not_erase(app: Any) -> None:
    reference = file_case(app)
    with unit_of_work(app) as ctx:
        administrator = user(ctx, "administrador")
        administrator.active = False
        with pytest.raises(AccessDenied):
            erase_case(ctx, administrator, reference, "retencion", reference)


# -- what remains -----------------------------------------------------------------------------------


@both_backends
def test_after_erasing_no_row_of_the_case_remains_and_the_tombstone_holds_no_personal_data(
        app: Any, clock: Any) -> None:
    reference = file_case(app)
    other = file_case(app, **OTHER)
    erased_id, other_id = case_id(app, reference), case_id(app, other)
    before = rows_of_case(app, erased_id)
    assert all(before[table] for table in CASE_TABLES if table != "case_tracks"), before  # the check can fail
    other_before = rows_of_case(app, other_id)

    clock.advance(days=40)
    with unit_of_work(app) as ctx:
        administrator = user(ctx, "administrador")
        erase_case(ctx, administrator, reference.lower(), "solicitud_titular", f" {reference.lower()} ")
        ctx.session.commit()
        pav = ctx.session.scalar(select(Node.id).where(Node.code == "PAV"))

    assert rows_of_case(app, erased_id) == dict.fromkeys(CASE_TABLES, 0)
    assert rows_of_case(app, other_id) == other_before  # the other case keeps every row
    with unit_of_work(app) as ctx:
        tombstone = ctx.session.scalar(select(CaseTombstone))
        assert tombstone.reference == reference
        assert tombstone.reason == "solicitud_titular"
        assert tombstone.actor_role == "administrador"
        assert tombstone.actor_node_id == pav
        assert tombstone.actor_user_id == administrator.id
        assert tombstone.erased_at == clock.now
        assert (tombstone.opened_at.year, tombstone.opened_at.month) == (2026, 11)
        assert tombstone.opened_at == clock.now - dt.timedelta(days=40)

    rows = tombstones(app)
    assert len(rows) == 1
    as_text = " | ".join(str(value) for value in rows[0]).lower()
    for value in (*VICTIM, "Yulimar", "Quintero", "4417829", "81234477", "1996-04-02"):
        assert value.lower() not in as_text, value
    assert str(erased_id) not in as_text and erased_id.hex not in as_text  # nothing links it to old copies


def test_erasing_shreds_the_case_on_sqlite_nothing_in_the_file_or_wal_and_no_key_opens_it(app: Any) -> None:
    reference = file_case(app)
    other = file_case(app, **OTHER)
    erased, kept = secrets_of(app, reference), secrets_of(app, other)
    assert len(erased.wraps) >= 3 and erased.ciphertexts and len(erased.digests) == 2
    with unit_of_work(app) as ctx:  # the control: before the erasure, the keys do open the case
        assert opens_any(openers(ctx), erased)

    admin = Browser(app, "demo-protocolo-2026")
    admin.login("administrador")
    response = erase_form(admin, reference)
    assert response.status_code == 303, response.text
    assert response.headers["Location"].endswith(ERASED_URL)
    assert reference in admin.get(ERASED_URL).text

    path = Path(make_url(app.config["DATABASE_URL"]).database or "")
    raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())  # no checkpoint of ours
    assert len(raw) > 100_000
    assert kept.wraps[0] in raw and kept.digests[0] in raw  # the search finds what is still there
    left = [blob.hex()[:16] for blob in erased.all() if blob in raw]
    assert left == [], "bytes of the erased case remain in the database file or its WAL"
    for value in VICTIM:
        assert value.encode() not in raw and value.lower().encode() not in raw, value

    with unit_of_work(app) as ctx:
        ciphers = openers(ctx)
        assert opens_any(ciphers, kept)  # the control: the same search does open the case that was kept
        record_id, blob = next(iter(kept.ciphertexts.items()))
        for_kept = next(c for c in ciphers if c.case_id == kept.case_id)
        assert for_kept.open(blob, Cell("form_records", "data", record_id))["nombres"] == "Marisol"
        assert not opens_any(ciphers, erased)  # no key in the database opens the erased case any more
        # nor does any key open the erased case's cells under any other case's identity
        for cipher in ciphers:
            for record_id, blob in erased.ciphertexts.items():
                with pytest.raises(DecryptionFailed):
                    cipher.open(blob, Cell("form_records", "data", record_id))


def _pg_dump(app: Any) -> bytes:
    url = make_url(app.config["DATABASE_URL"])
    return subprocess.run(
        ["pg_dump", "--no-owner", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
         "-U", url.username or "postgres", url.database or ""],
        check=True, capture_output=True,
    ).stdout


@postgresql_only
def test_erasing_on_postgresql_leaves_nothing_of_the_case_in_a_dump_and_other_cases_still_read(app: Any) -> None:
    reference = file_case(app)
    other = file_case(app, **OTHER)
    erased = secrets_of(app, reference)
    before = _pg_dump(app)
    # pg_dump prints bytea as \\x<hex>: the control that the search below would find the wraps
    assert all(wrap.hex().encode() in before for wrap in erased.wraps)
    assert all(digest.hex().encode() in before for digest in erased.digests)

    admin = Browser(app, "demo-protocolo-2026")
    admin.login("administrador")
    assert erase_form(admin, reference, "orden_judicial").status_code == 303

    dump = _pg_dump(app)
    assert reference.encode() in dump  # the tombstone
    left = [blob.hex()[:16] for blob in erased.all() if blob.hex().encode() in dump]
    assert left == []
    assert str(erased.case_id).encode() not in dump
    for value in VICTIM:
        assert value.encode() not in dump and value.lower().encode() not in dump, value

    focal = Browser(app, "demo-protocolo-2026")
    focal.login("coordinador.rm")
    page = focal.get(f"/casos/{other}")
    assert page.status_code == 200 and "Marisol" in page.text
    assert focal.get(f"/casos/{reference}").status_code == 404
    with unit_of_work(app) as ctx:
        case = ctx.session.scalar(select(Case).where(Case.reference == other))
        ctx.act_as(case.detecting_node_id)
        record = ctx.session.scalar(select(FormRecord).where(FormRecord.case_id == case.id))
        assert open_values(ctx, case, record)["numero_documento"] == "PE7712034"


# -- bad input --------------------------------------------------------------------------------------


def test_a_wrong_confirmation_keeps_what_was_typed_and_erases_nothing(app: Any) -> None:
    reference = file_case(app)
    admin = Browser(app, "demo-protocolo-2026")
    admin.login("administrador")
    response = erase_form(admin, reference, "ingreso_erroneo", confirmation="TP-0000-0000")
    assert response.status_code == 400
    page = response.text
    assert f'value="{reference}"' in field_block(page, "reference")
    assert re.search(r'<option selected value="ingreso_erroneo">|<option value="ingreso_erroneo" selected',
                     field_block(page, "reason"))
    confirmation = field_block(page, "confirmation")
    assert "has-error" in confirmation
    assert "Escriba la referencia del caso exactamente para confirmar." in confirmation
    assert "Revise los campos marcados." in page
    assert rows_of_case(app, case_id(app, reference))["cases"] == 1
    assert tombstones(app) == []


def test_an_unknown_reason_or_reference_is_refused_on_its_field(app: Any) -> None:
    reference = file_case(app)
    admin = Browser(app, "demo-protocolo-2026")
    admin.login("administrador")

    response = erase_form(admin, reference, "me_parecio")
    assert response.status_code == 400
    assert "has-error" in field_block(response.text, "reason")
    assert "Opción inválida." in field_block(response.text, "reason")
    assert f'value="{reference}"' in field_block(response.text, "reference")
    assert tombstones(app) == []
    with unit_of_work(app) as ctx:  # the service refuses it too, whatever the form lets through
        with pytest.raises(InvalidInput) as caught:
            erase_case(ctx, user(ctx, "administrador"), reference, "me_parecio", reference)
        assert set(caught.value.errors) == {"reason"}
        assert "me_parecio" not in REASONS

    response = erase_form(admin, "TP-ZZZZ-ZZZZ")
    assert response.status_code == 400
    field = field_block(response.text, "reference")
    assert "has-error" in field and 'value="TP-ZZZZ-ZZZZ"' in field
    assert "No existe un caso con esa referencia." in field
    assert "has-error" not in field_block(response.text, "confirmation")
    with unit_of_work(app) as ctx:
        with pytest.raises(CaseNotFound):
            erase_case(ctx, user(ctx, "administrador"), "TP-ZZZZ-ZZZZ", "retencion", "TP-ZZZZ-ZZZZ")
    assert rows_of_case(app, case_id(app, reference))["cases"] == 1
    assert tombstones(app) == []


def test_erasing_twice_says_already_erased_and_changes_nothing_and_former_participants_get_404(
        app: Any, clock: Any) -> None:
    reference = file_case(app)
    other = file_case(app, **OTHER)
    admin = Browser(app, "demo-protocolo-2026")
    admin.login("administrador")
    page = admin.get(ERASE_URL)
    fields = {**hidden_inputs(page.text), "reference": reference, "reason": "retencion", "confirmation": reference}
    first = admin.client.post(ERASE_URL, data=fields)
    assert first.status_code == 303
    after_first = tombstones(app)
    other_rows = rows_of_case(app, case_id(app, other))

    clock.advance(seconds=1)
    second = admin.client.post(ERASE_URL, data={**fields, "reason": "orden_judicial"})  # the double click
    assert second.status_code == 400
    assert "ya fue eliminado" in field_block(second.text, "reference")
    assert tombstones(app) == after_first  # same single tombstone: same reason, same time
    assert rows_of_case(app, case_id(app, other)) == other_rows
    with unit_of_work(app) as ctx:
        with pytest.raises(AlreadyErased):
            erase_case(ctx, user(ctx, "administrador"), reference.lower(), "retencion", reference)

    for name in ("salud.rm", "coordinador.rm", "gestor.rm", "coordinacion.nacional"):
        former = Browser(app, "demo-protocolo-2026")
        former.login(name)
        assert former.get(f"/casos/{reference}").status_code == 404, name
        assert former.get(f"/casos/{reference}/formularios/ficha").status_code == 404, name
        assert reference not in former.get("/bandeja/triaje").text, name


def _wait_until_blocked(app: Any) -> None:
    """Give the second erasure time to reach the first one's lock (PostgreSQL: until it waits on it)."""
    if database.engine(app).dialect.name != "postgresql":
        time.sleep(1.0)  # SQLite: it waits for the write lock in its busy handler
        return
    deadline = time.monotonic() + 10
    with database.engine(app).connect() as connection:
        while time.monotonic() < deadline:
            waiting = connection.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'")).scalar()
            connection.rollback()
            if waiting:
                return
            time.sleep(0.05)
    raise AssertionError("the second erasure never waited for the first")


@both_backends
def test_a_double_click_that_sends_both_erasures_at_once_tells_the_second_it_was_already_erased(app: Any) -> None:
    """A real double click sends the second POST while the first is still running; the browser shows the
    second answer. It must be «ya fue eliminado», as for a late second click, not an error."""
    reference = file_case(app)
    outcome: dict[str, BaseException | None] = {}

    def second_click() -> None:
        with unit_of_work(app) as ctx:
            try:
                erase_case(ctx, user(ctx, "administrador"), reference, "retencion", reference)
                ctx.session.commit()
                outcome["error"] = None
            except Exception as error:  # whatever it is, the assertion below names it
                outcome["error"] = error

    with unit_of_work(app) as ctx:
        erase_case(ctx, user(ctx, "administrador"), reference, "retencion", reference)  # first click, uncommitted
        thread = threading.Thread(target=second_click)
        thread.start()
        _wait_until_blocked(app)
        ctx.session.commit()
    thread.join(60)
    assert not thread.is_alive()
    assert len(tombstones(app)) == 1
    assert isinstance(outcome["error"], AlreadyErased), f"the second erasure got {outcome['error']!r}"


def test_an_erasure_reported_as_done_while_a_backup_reads_the_database_leaves_no_key_in_the_file(app: Any) -> None:
    """A backup or a replication tool (sqlite3 .backup, Litestream) holds a read transaction for a while.
    The erasure may wait for it or say the scrub is incomplete, but it must not report the case erased
    while its key wraps are still in the database file or its WAL, where nothing will remove them."""
    reference = file_case(app)
    erased = secrets_of(app, reference)
    path = Path(make_url(app.config["DATABASE_URL"]).database or "")
    reader = sqlite3.connect(path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM cases").fetchall()  # the backup's snapshot, from before the erasure
        result = app.test_cli_runner().invoke(
            args=["cases", "erase", reference, "--reason", "retencion", "--by", ADMIN_EMAIL, "--yes"])
    finally:
        reader.execute("COMMIT")
        reader.close()
    raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())  # the backup is over
    left = [blob.hex()[:16] for blob in erased.wraps if blob in raw]
    assert result.exit_code != 0 or left == [], (
        f"`flask cases erase` answered {result.output.strip()!r} (exit 0) but {len(left)} of the case's "
        f"{len(erased.wraps)} key wraps are still in {path.name} or its WAL")


# -- the command line -------------------------------------------------------------------------------


def test_flask_cases_erase_erases_as_an_administrator_and_prints_no_personal_data(app: Any) -> None:
    reference = file_case(app)
    other = file_case(app, **OTHER)
    runner = app.test_cli_runner()

    refused = runner.invoke(args=["cases", "erase", reference, "--reason", "retencion", "--by", "salud.rm@demo.cl",
                                  "--yes"])
    assert refused.exit_code != 0
    assert rows_of_case(app, case_id(app, reference))["cases"] == 1
    unknown = runner.invoke(args=["cases", "erase", "TP-ZZZZ-ZZZZ", "--reason", "retencion", "--by", ADMIN_EMAIL,
                                  "--yes"])
    assert unknown.exit_code != 0
    nobody = runner.invoke(args=["cases", "erase", reference, "--reason", "retencion", "--by", "nadie@demo.cl",
                                 "--yes"])
    assert nobody.exit_code != 0
    assert tombstones(app) == []

    result = runner.invoke(args=["cases", "erase", reference, "--reason", "retencion", "--by", ADMIN_EMAIL, "--yes"])
    assert result.exit_code == 0, result.output
    assert reference in result.output
    everything = result.output + (result.stderr if result.stderr_bytes is not None else "")
    for value in (*VICTIM, "Yulimar", "4417829"):
        assert value not in everything, value
    with unit_of_work(app) as ctx:
        assert ctx.session.scalar(select(Case.id).where(Case.reference == reference)) is None
        assert ctx.session.scalar(select(CaseTombstone.reason).where(CaseTombstone.reference == reference)) \
            == "retencion"
        assert ctx.session.scalar(select(Case.id).where(Case.reference == other)) is not None

    again = runner.invoke(args=["cases", "erase", reference, "--reason", "retencion", "--by", ADMIN_EMAIL, "--yes"])
    assert again.exit_code != 0 and "already been erased" in again.output
    assert len(tombstones(app)) == 1


def test_the_cli_erasure_also_leaves_nothing_in_the_sqlite_file(app: Any) -> None:
    reference = file_case(app)
    erased = secrets_of(app, reference)
    result = app.test_cli_runner().invoke(
        args=["cases", "erase", reference, "--reason", "retencion", "--by", ADMIN_EMAIL, "--yes"])
    assert result.exit_code == 0, result.output
    path = Path(make_url(app.config["DATABASE_URL"]).database or "")
    raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    assert [blob.hex()[:16] for blob in erased.all() if blob in raw] == []
    assert "case_key_wraps" in ERASED_TABLES and "blind_indexes" in ERASED_TABLES


# -- the list of erased cases -----------------------------------------------------------------------


def test_the_erased_cases_page_lists_the_tombstone_in_spanish_and_in_english(app: Any) -> None:
    admin = Browser(app, "demo-protocolo-2026")
    admin.login("administrador")
    empty = admin.get(ERASED_URL)
    assert empty.status_code == 200 and "No se ha eliminado ningún caso." in empty.text

    reference = file_case(app)
    assert erase_form(admin, reference, "solicitud_titular").status_code == 303
    spanish = admin.get(ERASED_URL)
    assert spanish.status_code == 200
    assert "Casos eliminados" in spanish.text
    row = re.search(rf"<tr><td class=\"ref\">{reference}</td>[\s\S]*?</tr>", spanish.text)
    assert row, spanish.text
    assert "Solicitud de supresión de la persona o su representante" in row.group(0)
    assert "Administrador/a del sistema" in row.group(0) and "PAV" in row.group(0)
    assert "11-2026" in row.group(0)  # the month the case was opened, no more
    assert "Abierto (mes)" in spanish.text
    assert "eliminado: sus claves fueron destruidas" in spanish.text  # the flash message after the redirect

    assert admin.post("/idioma", {"lang": "en", "next": ERASED_URL}).status_code in (302, 303)
    english = admin.get(ERASED_URL)
    assert "Erased cases" in english.text and "Opened (month)" in english.text
    row = re.search(rf"<tr><td class=\"ref\">{reference}</td>[\s\S]*?</tr>", english.text)
    assert row
    assert "Erasure requested by the person or their representative" in row.group(0)
    assert "System administrator" in row.group(0)
    assert "Solicitud de supresión" not in english.text
    for value in VICTIM:
        assert value not in spanish.text and value not in english.text


def test_a_scrub_blocked_by_a_backup_is_finished_by_flask_cases_scrub_once_the_backup_ends(app: Any) -> None:
    reference = file_case(app)
    erased = secrets_of(app, reference)
    path = Path(make_url(app.config["DATABASE_URL"]).database or "")
    runner = app.test_cli_runner()
    reader = sqlite3.connect(path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM cases").fetchall()
        result = runner.invoke(args=["cases", "erase", reference, "--reason", "retencion", "--by", ADMIN_EMAIL,
                                     "--yes"])
        assert result.exit_code == 3, result.output
        assert "cases scrub" in result.output
        blocked = runner.invoke(args=["cases", "scrub", "--wait", "0"])
        assert blocked.exit_code == 3
    finally:
        reader.execute("COMMIT")
        reader.close()
    done = runner.invoke(args=["cases", "scrub"])
    assert done.exit_code == 0, done.output
    raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    assert [blob for blob in erased.wraps if blob in raw] == []
