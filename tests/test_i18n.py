"""Translations: every Spanish string in the sources has an English translation, and the app uses it.

The Spanish text is the msgid. Extraction here uses babel.cfg itself, so the test and `pybabel extract`
always see the same strings. When a test below fails after you add or change a string, update the
catalog as babel.cfg explains and translate what it names.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "referral" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")

MessageKey = tuple[str, str | None]  # (msgid, msgctxt)


def _extracted() -> dict[MessageKey, list[str]]:
    """Every message the sources mark for translation, with where it occurs."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config, "babel.cfg")
    found: dict[MessageKey, list[str]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(str(ROOT), method_map, options_map):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault((msgid, context), []).append(f"{filename}:{lineno}")
    return found


def _catalog() -> Catalog:
    with CATALOG.open("rb") as source:
        return read_po(source, locale="en")


def _msgid(message: Any) -> str:
    return message.id[0] if isinstance(message.id, tuple) else message.id


def _strings(message: Any) -> list[str]:
    return list(message.string) if isinstance(message.string, tuple) else [message.string or ""]


@pytest.fixture(scope="module")
def extracted() -> dict[MessageKey, list[str]]:
    return _extracted()


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return _catalog()


def test_extraction_finds_the_strings_of_python_and_templates(extracted: dict[MessageKey, list[str]]) -> None:
    places = {place.split(":")[0] for where in extracted.values() for place in where}
    assert ("Casos de mi nodo", None) in extracted  # Python (referral/web/nav.py)
    assert ("Cerrar sesión", None) in extracted  # a template (templates/base.html)
    assert ("Página %(page)s de %(pages)s", None) in extracted  # a template call with placeholders
    assert any(place.startswith("referral/") for place in places)
    assert any(place.startswith("templates/") for place in places)


def test_every_source_string_has_an_english_translation(extracted: dict[MessageKey, list[str]],
                                                        catalog: Catalog) -> None:
    missing = []
    for (msgid, context), where in extracted.items():
        message = catalog.get(msgid, context=context)
        if message is None or not all(text.strip() for text in _strings(message)):
            missing.append(f"{msgid!r} ({', '.join(where)})")
    assert not missing, (f"{len(missing)} string(s) without an English translation in "
                         f"{CATALOG.relative_to(ROOT)}:\n  " + "\n  ".join(missing))


def test_the_catalog_holds_no_string_the_sources_no_longer_use(extracted: dict[MessageKey, list[str]],
                                                               catalog: Catalog) -> None:
    stale = sorted(_msgid(message) for message in catalog
                   if message.id and (_msgid(message), message.context) not in extracted)
    assert not stale, "translations for strings no longer in the sources (run pybabel update): " + repr(stale)


def test_the_catalog_has_no_fuzzy_and_no_obsolete_entries(catalog: Catalog) -> None:
    assert not catalog.fuzzy, "the catalog header is marked fuzzy"
    fuzzy = [message.id for message in catalog if message.id and message.fuzzy]
    assert not fuzzy, f"fuzzy entries (review, then remove the flag): {fuzzy!r}"
    assert not catalog.obsolete, f"obsolete (#~) entries: {list(catalog.obsolete)!r}"


def test_translations_keep_the_placeholders_of_the_spanish(catalog: Catalog) -> None:
    wrong = []
    for message in catalog:
        if not message.id:
            continue
        expected = sorted(PLACEHOLDER.findall(_msgid(message)))
        for text in _strings(message):
            if sorted(PLACEHOLDER.findall(text)) != expected:
                wrong.append(f"{_msgid(message)!r} -> {text!r}")
    assert not wrong, "placeholders differ from the Spanish:\n  " + "\n  ".join(wrong)


def _lang(html: str) -> str:
    match = re.search(r'<html lang="(\w+)">', html)
    assert match, "the page has no <html lang>"
    return match.group(1)


def test_spanish_by_default_then_english_once_chosen(browser: Any) -> None:
    browser.login("coordinador.rm")
    page = browser.get("/protocolo")
    assert page.status_code == 200
    assert _lang(page.text) == "es"
    assert "Cerrar sesión" in page.text and "Sign out" not in page.text
    assert re.search(r"Definición vigente, versión \d+\.", page.text)
    assert "Casos de mi nodo" in page.text  # the nav, translated in Python

    switched = browser.post("/idioma", {"lang": "en", "next": "/protocolo"})
    assert switched.status_code == 302 and switched.headers["Location"].endswith("/protocolo")

    page = browser.get("/protocolo")
    assert page.status_code == 200
    assert _lang(page.text) == "en"
    assert "Sign out" in page.text and "Cerrar sesión" not in page.text
    assert "Skip to content" in page.text and "Saltar al contenido" not in page.text
    assert re.search(r"Definition in force, version \d+\. These rules come from the workflow definition", page.text)
    assert "My node’s cases" in page.text and "Casos de mi nodo" not in page.text
    assert "<title>Protocol in force · Victim support network</title>" in page.text


def test_error_pages_follow_the_chosen_language(browser: Any) -> None:
    browser.login("coordinador.rm")
    assert "La página no existe." in browser.get("/no-existe").text
    browser.post("/idioma", {"lang": "en"})
    page = browser.get("/no-existe")
    assert page.status_code == 404
    assert "The page does not exist." in page.text and "Back to the home page" in page.text


def test_switching_back_to_spanish(browser: Any) -> None:
    browser.login("coordinador.rm")
    browser.post("/idioma", {"lang": "en"})
    assert "Sign out" in browser.get("/protocolo").text
    browser.post("/idioma", {"lang": "es"})
    page = browser.get("/protocolo")
    assert _lang(page.text) == "es" and "Cerrar sesión" in page.text
