"""Case documents: the upload page and the download. Thin: referral/cases/attachments.py decides."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, flash, redirect, render_template, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..web.access import needs
from ..web.context import current_ctx, language
from ..web.unit import attempt
from .attachments import (AttachmentAlreadyRecorded, UploadInput, attachments_def, form_choices, kind_readers,
                          open_download, open_for_upload, record_attachment)

from .forms import AttachmentForm

bp = Blueprint("attachments", __name__)


def _values(form: AttachmentForm) -> UploadInput:
    upload = form.file.data
    chosen = upload is not None and bool(getattr(upload, "filename", ""))
    return UploadInput(kind=form.kind.data or "", shared_with=tuple(form.shared_with.data or ()),
                       filename=upload.filename if chosen else "", read=upload.stream.read if chosen else None)


@bp.route("/casos/<reference>/documentos/nuevo", methods=["GET", "POST"])
@needs("case_access")
def new(reference: str) -> Any:
    ctx, lang = current_ctx(), language()
    case, _relations = open_for_upload(ctx, current_user, reference)
    form = AttachmentForm()
    kinds, sharing = form_choices(ctx, lang)
    form.kind.choices = [("", _("Elija"))] + kinds
    form.shared_with.choices = sharing
    status = 200
    if form.is_submitted():
        if form.validate():
            with attempt(form, done=_("Documento adjuntado, cifrado."),
                         already={AttachmentAlreadyRecorded: _("Este documento ya había sido adjuntado.")}) as outcome:
                record_attachment(ctx, current_user, reference, _values(form), form.token.data or "")
            if outcome.finished:
                return redirect(url_for("cases.show", reference=case.reference), 303)
        flash(_("No se adjuntó el documento: revise los campos marcados. Lo elegido se conserva; "
                "el archivo debe elegirse otra vez."), "error")
        status = 400
    else:
        form.token.data = secrets.token_urlsafe(24)
    return render_template("cases/attachment_new.html", form=form, reference=case.reference,
                           readers=kind_readers(ctx, lang), max_mb=attachments_def(ctx).max_mb), status


@bp.get("/casos/<reference>/documentos/<attachment_id>")
@needs("case_access")
def download(reference: str, attachment_id: str) -> Any:
    ctx = current_ctx()
    document = open_download(ctx, current_user, reference, attachment_id)
    ctx.session.commit()  # the download's audit event, before the first byte leaves
    ascii_name = "documento." + document.name.rsplit(".", 1)[-1]
    response = Response(stream_with_context(document.chunks), mimetype=document.content_type,
                        direct_passthrough=True)
    response.headers["Content-Length"] = str(document.size)
    response.headers["Content-Disposition"] = (f"attachment; filename=\"{ascii_name}\"; "
                                               f"filename*=UTF-8''{quote(document.name, safe='')}")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
