"""Case documents (issue 16 item 3): files sealed in chunks under their own key, itself sealed under the
case key; read per kind and relation; type by content; size limit; shredded with the case; streamed."""

from __future__ import annotations

import base64
import dataclasses
import io
import logging
import os
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from referral.audit.models import AuditEvent
from referral.kernel.attachment_models import CaseAttachment
from referral.cases.attachments import (AttachmentAlreadyRecorded, UploadInput, case_attachments, open_download,
                                        record_attachment)
from referral.kernel.errors import AccessDenied, CaseNotFound, InvalidInput
from referral.context import Protocol
from referral.vault import CHUNK, DecryptionFailed, FileCipher, MasterKey, MasterKeyring, Vault
from referral.vault.files import MAGIC, RECORD
from referral.workflow import load_definition
from referral.workflow.errors import DefinitionError

from .backends import both_backends
from .browser import hidden_inputs
from .conftest import MASTER_KEY
from .referrals import consent, refer
from .steps import activate, file_case, user
from .test_encryption_at_rest import database_bytes
from .units import unit_of_work
from .definitions import workflow_text

FILE_MARKER = "Informe-Pamela-Quispe-Arica"
CONTENT_MARKER = b"DIAGNOSTICO-CONFIDENCIAL-7Q2X"
LEAD, FOCAL, HEALTH, SHELTER, STRANGER = "gestor.sernameg", "coordinador.rm", "salud.rm", "ong.incami", "gestor.ta"


def pdf(size: int = 3 * CHUNK + 123, marker: bytes = CONTENT_MARKER) -> bytes:
    body = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + marker + b"\n"
    return (body + bytes(range(256)) * (max(0, size - len(body)) // 256 + 1))[:max(size, len(body))]


def send(browser: Any, url: str, fields: dict[str, Any], content: bytes, name: str,
         content_type: str = "application/octet-stream") -> Any:
    """POST a multipart form with one file, encoded in memory (the test client's own encoder spools a large
    body to a temporary file it never closes)."""
    values = MultiDict(list(fields.items()) if not isinstance(fields, MultiDict) else fields)
    values.add("file", FileStorage(io.BytesIO(content), name, content_type=content_type))
    boundary, body = encode_multipart(values)
    return browser.client.post(url, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def upload(app: Any, who: str, reference: str, content: bytes, kind: str = "informe_medico",
           shared: tuple[str, ...] = (), name: str = f"{FILE_MARKER}.pdf", token: str | None = None) -> uuid.UUID:
    with unit_of_work(app) as ctx:
        row = record_attachment(ctx, user(ctx, who), reference,
                                UploadInput(kind, shared, name, io.BytesIO(content).read), token or uuid.uuid4().hex)
        ctx.session.commit()
        return row.id


def download(app: Any, who: str, reference: str, attachment_id: uuid.UUID) -> bytes:
    with unit_of_work(app) as ctx:
        document = open_download(ctx, user(ctx, who), reference, str(attachment_id))
        ctx.session.commit()
        return b"".join(document.chunks)


def listed(app: Any, who: str, reference: str) -> list[str]:
    with unit_of_work(app) as ctx:
        section = case_attachments(ctx, user(ctx, who), reference, "es")
        ctx.session.commit()
        assert section is not None
        return [a.kind_label for a in section.attachments]


def blobs(app: Any) -> list[Path]:
    return sorted(p for p in Path(app.config["ATTACHMENTS_DIR"]).rglob("*") if p.is_file())


def shelter_case(app: Any) -> str:
    reference = file_case(app)
    activate(app, reference)  # SERNAMEG leads; the regional focal point; the detecting health service
    consent(app, reference)
    refer(app, reference, "INCAMI")  # a shelter (derivacion_alojamiento) while the referral is live
    return reference


@both_backends
def test_a_document_round_trips_and_each_relation_reads_the_kinds_it_may(app: Any, clock: Any) -> None:
    reference = shelter_case(app)
    content = pdf()
    medical = upload(app, LEAD, reference, content)
    clock.advance(minutes=1)
    complaint = upload(app, LEAD, reference, pdf(500), kind="copia_denuncia")
    clock.advance(minutes=1)
    shared = upload(app, LEAD, reference, pdf(700), kind="informe_medico", shared=("derivacion_alojamiento",))
    assert download(app, LEAD, reference, medical) == content
    assert listed(app, LEAD, reference) == ["Informe médico", "Copia de la denuncia", "Informe médico"]
    assert listed(app, FOCAL, reference) == ["Copia de la denuncia"]  # punto_focal: not the medical reports
    assert listed(app, SHELTER, reference) == ["Informe médico"]  # only the one shared with it
    assert download(app, SHELTER, reference, shared) == pdf(700)
    with pytest.raises(CaseNotFound):  # the medical report not shared with the shelter: as if it did not exist
        download(app, SHELTER, reference, medical)
    with pytest.raises(CaseNotFound):
        download(app, FOCAL, reference, medical)
    assert download(app, FOCAL, reference, complaint) == pdf(500)
    with pytest.raises(AccessDenied):  # a node with no relation to the case
        download(app, STRANGER, reference, complaint)
    with pytest.raises(AccessDenied):
        upload(app, STRANGER, reference, pdf())
    with unit_of_work(app) as ctx:
        actions = [(e.action, e.subject, e.details) for e in ctx.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "attachment.download").order_by(AuditEvent.seq))]
    assert actions == [("attachment.download", str(i), {}) for i in (medical, shared, complaint)]


def test_chunks_cannot_be_reordered_truncated_spliced_or_changed() -> None:
    file_id, other_id, key = uuid.uuid4(), uuid.uuid4(), os.urandom(32)
    plain = os.urandom(3 * CHUNK + 10)
    cipher = FileCipher(file_id, 1, key)
    sealed = b"".join(cipher.seal(io.BytesIO(plain).read))
    records = [sealed[len(MAGIC) + i * RECORD: len(MAGIC) + (i + 1) * RECORD] for i in range(4)]
    assert b"".join(cipher.open(io.BytesIO(sealed).read)) == plain

    def opens(blob: bytes, with_cipher: FileCipher = cipher) -> bool:
        try:
            b"".join(with_cipher.open(io.BytesIO(blob).read))
        except DecryptionFailed:
            return False
        return True

    reordered = MAGIC + records[1] + records[0] + records[2] + records[3]
    truncated = MAGIC + b"".join(records[:3])  # whole chunks dropped from the end
    cut = sealed[:-5]
    flipped = bytearray(sealed)
    flipped[len(MAGIC) + RECORD + 40] ^= 1
    other = b"".join(FileCipher(other_id, 1, key).seal(io.BytesIO(plain).read))  # same key, another file
    spliced = MAGIC + records[0] + other[len(MAGIC) + RECORD: len(MAGIC) + 2 * RECORD] + b"".join(records[2:])
    for attack in (reordered, truncated, cut, bytes(flipped), spliced, sealed[len(MAGIC):]):
        assert not opens(attack)
    assert not opens(sealed, FileCipher(file_id, 2, key))  # another key version
    assert not opens(sealed, FileCipher(other_id, 1, key))  # another file's id


def test_a_tampered_blob_does_not_download(app: Any) -> None:
    reference = file_case(app)
    activate(app, reference)
    attachment = upload(app, LEAD, reference, pdf())
    [blob] = blobs(app)
    blob.write_bytes(blob.read_bytes()[:len(MAGIC) + 2 * RECORD])  # truncated at a chunk boundary
    with pytest.raises(DecryptionFailed):
        download(app, LEAD, reference, attachment)


def test_the_type_is_read_from_the_content_not_the_name(app: Any, make_browser: Any) -> None:
    reference = file_case(app)
    activate(app, reference)
    lead = make_browser()
    lead.login(LEAD)
    fields = hidden_inputs(lead.get(f"/casos/{reference}/documentos/nuevo").text)
    program = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 4000  # a Windows program
    answer = send(lead, f"/casos/{reference}/documentos/nuevo",
                  {**fields, "kind": "copia_denuncia", "shared_with": "derivacion_salud"}, program, "denuncia.pdf",
                  "application/pdf")
    assert answer.status_code == 400
    assert "El contenido del archivo no es de un tipo permitido (PDF, JPEG, PNG)" in answer.text
    assert 'selected value="copia_denuncia"' in answer.text  # what was chosen is kept
    assert re.search(r"<input checked[^>]*value=\"derivacion_salud\"", answer.text)
    with unit_of_work(app) as ctx:
        assert ctx.session.scalars(select(CaseAttachment)).all() == []
    assert blobs(app) == []
    for bad in (b"", b"just text, no magic", program):
        with pytest.raises(InvalidInput) as refused:
            upload(app, LEAD, reference, bad)
        assert "file" in refused.value.errors
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 300
    attachment = upload(app, LEAD, reference, png, name="foto.pdf")
    with unit_of_work(app) as ctx:
        document = open_download(ctx, user(ctx, LEAD), reference, str(attachment))
        assert (document.name, document.content_type) == ("foto.png", "image/png")  # named for what it is
        assert b"".join(document.chunks) == png


def _limit(app: Any, max_mb: int) -> None:
    definition = app.extensions["referral.protocol"].definition
    smaller = dataclasses.replace(definition, attachments=dataclasses.replace(definition.attachments, max_mb=max_mb))
    app.extensions["referral.protocol"] = Protocol.of(smaller)


def test_a_file_over_the_limit_is_refused_and_nothing_is_kept(app: Any, make_browser: Any) -> None:
    reference = file_case(app)
    activate(app, reference)
    _limit(app, 1)
    with pytest.raises(InvalidInput) as refused:
        upload(app, LEAD, reference, pdf(1024 * 1024 + 1))
    assert refused.value.errors["file"][0].es == "El archivo supera el tamaño máximo de 1 MB."
    assert blobs(app) == []
    upload(app, LEAD, reference, pdf(1024 * 1024))  # exactly the limit is taken
    lead = make_browser()
    lead.login(LEAD)
    fields = hidden_inputs(lead.get(f"/casos/{reference}/documentos/nuevo").text)
    answer = send(lead, f"/casos/{reference}/documentos/nuevo", {**fields, "kind": "otro"}, pdf(2 * 1024 * 1024),
                  "grande.pdf")
    assert answer.status_code == 413 and "demasiado grande" in answer.text
    assert len(blobs(app)) == 1
    # the rest of the application keeps its own 2 MB body limit
    assert lead.client.post(f"/casos/{reference}/atenciones/nueva", data={"narrative": "x" * 3_000_000}).status_code == 413


def test_a_double_submit_stores_once(app: Any, make_browser: Any) -> None:
    reference = file_case(app)
    activate(app, reference)
    token = uuid.uuid4().hex
    upload(app, LEAD, reference, pdf(), token=token)
    with pytest.raises(AttachmentAlreadyRecorded):
        upload(app, LEAD, reference, pdf(), token=token)
    assert len(blobs(app)) == 1
    lead = make_browser()
    lead.login(LEAD)
    fields = hidden_inputs(lead.get(f"/casos/{reference}/documentos/nuevo").text)
    for _click in range(2):
        answer = send(lead, f"/casos/{reference}/documentos/nuevo", {**fields, "kind": "otro"}, pdf(), "a.pdf")
        assert answer.status_code == 303 and answer.headers["Location"] == f"/casos/{reference}"
    with unit_of_work(app) as ctx:
        assert len(ctx.session.scalars(select(CaseAttachment)).all()) == 2
    assert len(blobs(app)) == 2


def test_the_lead_uploads_in_the_browser_and_the_download_is_not_cached(app: Any, make_browser: Any) -> None:
    reference = shelter_case(app)
    lead = make_browser()
    lead.login(LEAD)
    fields = hidden_inputs(lead.get(f"/casos/{reference}/documentos/nuevo").text)
    content = pdf(5 * CHUNK)
    answer = send(lead, f"/casos/{reference}/documentos/nuevo", {**fields, "kind": "informe_medico"}, content,
                  "Informe Ñuñoa.pdf", "application/pdf")
    assert answer.status_code == 303
    page = lead.get(f"/casos/{reference}").text
    assert "Informe Ñuñoa.pdf" in page and "Informe médico" in page
    with unit_of_work(app) as ctx:
        attachment_id = ctx.session.scalar(select(CaseAttachment.id))
    got = lead.get(f"/casos/{reference}/documentos/{attachment_id}")
    assert got.status_code == 200 and got.data == content
    assert got.headers["Cache-Control"] == "no-store" and got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["Content-Disposition"].startswith('attachment; filename="documento.pdf"')
    assert "filename*=UTF-8''Informe%20%C3%91u%C3%B1oa.pdf" in got.headers["Content-Disposition"]
    assert got.headers["Content-Type"] == "application/pdf"
    shelter = make_browser()
    shelter.login(SHELTER)
    assert "Informe Ñuñoa" not in shelter.get(f"/casos/{reference}").text
    assert shelter.get(f"/casos/{reference}/documentos/{attachment_id}").status_code == 404
    assert shelter.get(f"/casos/{reference}/documentos/no-es-un-id").status_code == 404


def test_nothing_of_a_document_is_stored_logged_or_audited_in_clear(app: Any, make_browser: Any,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    reference = file_case(app)
    activate(app, reference)
    lead = make_browser()
    lead.login(LEAD)
    fields = hidden_inputs(lead.get(f"/casos/{reference}/documentos/nuevo").text)
    content = pdf(600_000)  # past Werkzeug's in-memory threshold: the upload is spooled to a file
    answer = send(lead, f"/casos/{reference}/documentos/nuevo", {**fields, "kind": "documento_identidad"}, content,
                  f"{FILE_MARKER}.pdf")
    assert answer.status_code == 303
    assert FILE_MARKER in lead.get(f"/casos/{reference}").text
    with unit_of_work(app) as ctx:
        attachment_id = ctx.session.scalar(select(CaseAttachment.id))
    assert lead.get(f"/casos/{reference}/documentos/{attachment_id}").data == content
    stored = database_bytes(app)
    on_disk = b"".join(p.read_bytes() for p in blobs(app))
    assert len(on_disk) > 600_000
    names = " ".join(str(p) for p in Path(app.instance_path).rglob("*"))
    for secret in (FILE_MARKER.encode(), CONTENT_MARKER, b"documento_identidad", content[-4096:]):
        assert secret not in stored and secret not in on_disk, secret
        assert secret.decode(errors="replace") not in caplog.text
    assert FILE_MARKER not in names and reference not in names
    with unit_of_work(app) as ctx:
        events = ctx.session.scalars(select(AuditEvent)).all()
    audit_text = " ".join(f"{e.action} {e.subject} {e.details}" for e in events)
    assert FILE_MARKER not in audit_text and "Pamela" not in audit_text and "documento_identidad" not in audit_text
    assert f"attachment.create {attachment_id}" in audit_text and f"attachment.download {attachment_id}" in audit_text


def test_the_upload_spool_holds_ciphertext_only(app: Any) -> None:
    from referral.vault import SpoolFile

    spool = SpoolFile()
    spool.write(CONTENT_MARKER * 1000)
    spool.flush()
    raw = spool._file  # what reached the disk
    raw.seek(0)
    assert CONTENT_MARKER not in raw.read()
    spool.seek(0)
    assert spool.read() == CONTENT_MARKER * 1000
    spool.close()


def test_a_web_upload_leaves_no_plaintext_in_any_temporary_file(app: Any, make_browser: Any, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Every temporary file the process opens while a 2 MB document is uploaded (Werkzeug's parser, our spool,
    anything else) is kept on disk for the test to read: none holds the content in clear."""
    import tempfile

    kept: list[Path] = []

    def keeping(*args: Any, **kwargs: Any) -> Any:
        kwargs.update(dir=tmp_path, delete=False)
        handle = tempfile.NamedTemporaryFile(*args, **kwargs)  # noqa: SIM115 (closed by its owner)
        kept.append(Path(handle.name))
        return handle

    reference = file_case(app)
    activate(app, reference)
    lead = make_browser()
    lead.login(LEAD)
    fields = hidden_inputs(lead.get(f"/casos/{reference}/documentos/nuevo").text)
    content = pdf(2 * 1024 * 1024)
    monkeypatch.setattr(tempfile, "TemporaryFile", keeping)
    answer = send(lead, f"/casos/{reference}/documentos/nuevo", {**fields, "kind": "documento_identidad"}, content,
                  f"{FILE_MARKER}.pdf")
    monkeypatch.undo()
    assert answer.status_code == 303
    spooled = [path.read_bytes() for path in kept]
    assert any(len(data) >= len(content) for data in spooled), "the upload was not spooled to a file at all"
    for data in spooled:
        assert CONTENT_MARKER not in data and content[-4096:] not in data


def test_documents_are_shredded_with_the_case(app: Any) -> None:
    from referral.cases.erasure import erase_case

    reference = file_case(app)
    activate(app, reference)
    attachment = upload(app, LEAD, reference, pdf())
    [blob] = blobs(app)
    copy = blob.read_bytes()  # a copy kept somewhere (a backup) before the erasure
    with unit_of_work(app) as ctx:
        row = ctx.session.get(CaseAttachment, attachment)
        wrapped = row.file_key
        erase_case(ctx, user(ctx, "administrador"), reference, "ingreso_erroneo", reference)
        assert blob.exists()  # not before the erasure commits
        ctx.session.commit()
    assert blobs(app) == []
    with unit_of_work(app) as ctx:
        assert ctx.session.scalars(select(CaseAttachment)).all() == []
    assert wrapped not in database_bytes(app)  # the sealed file key is gone with the case key
    assert CONTENT_MARKER not in copy  # and the copy was ciphertext whose key no longer exists anywhere


def test_an_erasure_rolled_back_keeps_the_blobs(app: Any) -> None:
    from referral.cases.erasure import erase_case

    reference = file_case(app)
    activate(app, reference)
    attachment = upload(app, LEAD, reference, pdf())
    with unit_of_work(app) as ctx:
        erase_case(ctx, user(ctx, "administrador"), reference, "ingreso_erroneo", reference)
        ctx.session.rollback()
    assert len(blobs(app)) == 1
    assert download(app, LEAD, reference, attachment) == pdf()


def test_a_case_key_rotation_reseals_the_file_keys_and_the_file_still_opens(app: Any) -> None:
    from referral.keys.rotation import rotate_case
    from referral.vault.cells import sealed_version

    reference = file_case(app)
    activate(app, reference)
    attachment = upload(app, LEAD, reference, pdf())
    before = blobs(app)[0].read_bytes()
    report = rotate_case(lambda: unit_of_work(app), reference)
    assert report.retired == [f"{reference} key v1"]
    with unit_of_work(app) as ctx:
        row = ctx.session.get(CaseAttachment, attachment)
        assert (sealed_version(row.file_key), sealed_version(row.data)) == (2, 2)
    assert blobs(app)[0].read_bytes() == before  # the content is not re-encrypted: its key is re-sealed
    assert download(app, LEAD, reference, attachment) == pdf()


@both_backends
def test_a_master_key_rotation_leaves_documents_readable_under_the_new_key_alone(app: Any) -> None:
    from referral.keys.rotation import rotate_master

    reference = file_case(app)
    activate(app, reference)
    attachment = upload(app, LEAD, reference, pdf())
    old, new = MasterKey(base64.b64decode(MASTER_KEY)), MasterKey(os.urandom(32))
    app.extensions["referral.vault"] = Vault(MasterKeyring(new, [old]))
    report = rotate_master(lambda: unit_of_work(app))
    assert report.retired == [old.key_id]
    app.extensions["referral.vault"] = Vault(new)  # the old master key removed
    assert download(app, LEAD, reference, attachment) == pdf()


def test_the_definition_refuses_unknown_relations_and_types(tmp_path: Path) -> None:
    source = Path(__file__).parent.parent / "workflows" / "chile"
    text = workflow_text(source)  # one workflow.yaml written from the split files
    (tmp_path / "forms").symlink_to(source / "forms")
    for wrong, message in (
        (text.replace("      readers: [nodo_lider, derivacion_salud]", "      readers: [albergue_x]"), "albergue_x"),
        (text.replace("content_types: [application/pdf,", "content_types: [application/x-msdownload,"),
         "x-msdownload"),
        (text.replace("  max_mb: 25\n", "  max_mb: 0\n"), "max_mb"),
    ):
        assert wrong != text
        (tmp_path / "workflow.yaml").write_text(wrong)
        with pytest.raises(DefinitionError, match=message):
            load_definition(tmp_path)


def test_a_25_mb_upload_and_download_stream_within_64_mb_of_memory(app: Any, make_browser: Any,
                                                                   tmp_path: Path) -> None:
    """Measured with tracemalloc, the peak of Python-heap allocations above the baseline while the request
    runs: every buffer on this path (the parser's parts, each chunk's plaintext and ciphertext, which
    `cryptography` returns as Python bytes) is allocated there, and it excludes what the interpreter and
    the test harness already hold. The request body is read from a file on disk, and the download is
    consumed chunk by chunk, so neither side of the test holds the file in memory either."""
    import hashlib
    import tracemalloc

    reference = file_case(app)
    activate(app, reference)
    lead = make_browser()
    lead.login(LEAD)
    fields = hidden_inputs(lead.get(f"/casos/{reference}/documentos/nuevo").text)
    size = 25 * 1024 * 1024
    boundary = "frontera" + uuid.uuid4().hex
    body = tmp_path / "body"
    digest = hashlib.sha256()
    with body.open("wb") as out:
        for key, value in {**fields, "kind": "informe_medico"}.items():
            out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="grande.pdf"\r\n'
                  "Content-Type: application/pdf\r\n\r\n".encode())
        block = pdf(CHUNK)
        for _ in range(size // CHUNK):
            out.write(block)
            digest.update(block)
        out.write(f"\r\n--{boundary}--\r\n".encode())
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        with body.open("rb") as stream:
            answer = lead.client.post(f"/casos/{reference}/documentos/nuevo", input_stream=stream,
                                      content_length=body.stat().st_size,
                                      content_type=f"multipart/form-data; boundary={boundary}")
        upload_peak = tracemalloc.get_traced_memory()[1] - baseline
        assert answer.status_code == 303, answer.status_code
        with unit_of_work(app) as ctx:
            attachment_id = ctx.session.scalar(select(CaseAttachment.id))
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        response = lead.client.get(f"/casos/{reference}/documentos/{attachment_id}", buffered=False)
        received, got = 0, hashlib.sha256()
        for chunk in response.response:
            received += len(chunk)
            got.update(chunk)
        response.close()
        download_peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert received == size and got.digest() == digest.digest()
    assert upload_peak < 64 * 1024 * 1024, upload_peak
    assert download_peak < 64 * 1024 * 1024, download_peak
    assert upload_peak < 8 * 1024 * 1024 and download_peak < 8 * 1024 * 1024, (upload_peak, download_peak)


def test_orphan_files_older_than_a_day_are_found_and_deleted_and_nothing_else(app: Any) -> None:
    """A crash between writing a blob and committing its row leaves unreadable ciphertext; `flask cases
    orphan-files --delete` removes such files and stale partial writes, never a document's file or a fresh
    upload still in flight."""
    reference = file_case(app)
    activate(app, reference)
    kept = upload(app, LEAD, reference, pdf())
    store = app.extensions["referral.blobs"]
    old_orphan, fresh_orphan = "a" * 32, "b" * 32
    store.put(old_orphan, [b"ciphertext"])
    store.put(fresh_orphan, [b"ciphertext"])
    stale_part = store.root / "aa" / f".{old_orphan}.deadbeef.part"
    stale_part.write_bytes(b"half")
    two_days_ago = app.config["CLOCK"]().timestamp() - 2 * 86400
    for path in [store._path(old_orphan), stale_part, *blobs(app)]:
        if path.name != fresh_orphan:
            os.utime(path, (two_days_ago, two_days_ago))
    runner = app.test_cli_runner()
    counted = runner.invoke(args=["cases", "orphan-files"])
    assert counted.exit_code == 0 and "1 orphan file(s) found" in counted.output, counted.output
    assert store._path(old_orphan).exists()  # counting deletes nothing
    deleted = runner.invoke(args=["cases", "orphan-files", "--delete"])
    assert deleted.exit_code == 0 and "1 orphan file(s) deleted" in deleted.output, deleted.output
    assert not store._path(old_orphan).exists() and not stale_part.exists()
    assert store._path(fresh_orphan).exists()  # may be an upload in flight
    assert download(app, LEAD, reference, kept) == pdf()  # the document's own file is untouched
    with unit_of_work(app) as ctx:
        (event,) = ctx.session.scalars(select(AuditEvent).where(AuditEvent.action == "attachments.orphans_deleted"))
        assert event.details == {"count": 1}
