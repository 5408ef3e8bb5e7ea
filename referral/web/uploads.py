"""The request class: uploads are spooled encrypted, and only the upload page may send a large body.

Werkzeug parses a multipart body into a temporary file as it arrives (in clear, by default, once it
passes 500 KB). Here every uploaded file is written into a `SpoolFile` instead: on disk it is
ciphertext under a key that lives in this request's memory only, and it is gone with the request.
The application-wide body limit (MAX_CONTENT_LENGTH, 2 MB) stays for every other page; the upload
endpoints take the workflow's document size limit plus room for the form's other fields.
"""

from __future__ import annotations

from typing import IO

from flask import Request, current_app

from ..vault import SpoolFile

UPLOAD_ENDPOINTS = frozenset({"attachments.new"})
PLAN_EVIDENCE_ENDPOINT = "plan.report"  # a progress report of the Plan de Acción with its evidence
FORM_OVERHEAD = 64 * 1024  # the multipart headers and the form's small fields beside the file


class UploadRequest(Request):
    @property  # type: ignore[override]
    def max_content_length(self) -> int | None:
        if self._max_content_length is None and current_app and self.endpoint in UPLOAD_ENDPOINTS:
            attachments = current_app.extensions["referral.protocol"].definition.attachments
            if attachments is not None:
                return int(attachments.max_bytes) + FORM_OVERHEAD
        if self._max_content_length is None and current_app and self.endpoint == PLAN_EVIDENCE_ENDPOINT:
            from ..plan.evidence import MAX_BYTES

            return MAX_BYTES + FORM_OVERHEAD
        return Request.max_content_length.fget(self)  # type: ignore[attr-defined,no-any-return]

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        directory = current_app.config.get("UPLOAD_SPOOL_DIR") if current_app else None
        return SpoolFile(directory)  # type: ignore[return-value]
