"""Translations: Spanish is the source language; the English catalog is compiled at start-up."""

from __future__ import annotations

import os
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

SOURCE = Path(__file__).resolve().parent / "translations"


def compile_catalogs(target: Path) -> Path:
    """Compile every translations/<lang>/LC_MESSAGES/messages.po into `target` (when newer)."""
    for po_path in SOURCE.glob("*/LC_MESSAGES/messages.po"):
        mo_path = target / po_path.relative_to(SOURCE).with_suffix(".mo")
        if mo_path.is_file() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with po_path.open("rb") as source:
            catalog = read_po(source)
        temporary = mo_path.with_suffix(f".{os.getpid()}.tmp")  # its own, when processes start together
        with temporary.open("wb") as out:
            write_mo(out, catalog)
        temporary.replace(mo_path)  # atomic: concurrent start-ups never read half a file
    return target
