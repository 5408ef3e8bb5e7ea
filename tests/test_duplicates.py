"""Possible duplicates: the same person's earlier case is found through blind indexes, and told only to those
who may know it.

Cases are filed in the browser, as people file them, and the notice is read on the case page. Who learns
what is the point: a node sees the references of matching cases it takes part in; the regional focal point
and national coordination (the definition's `duplicates.visible_to`) also learn how many matches lie
outside their scope, without references; a detecting node learns nothing of cases it is not part of.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from referral import StartupError, create_app
from referral.kernel.models import BlindIndex, Case
from referral.kernel.keystore import blind_indexer
from referral.vault import normalise_document
from referral.workflow import DefinitionError, load_definition

from .backends import both_backends
from .browser import Browser
from .conftest import MASTER_KEY
from .definitions import rewritten
from .factories import VICTIM_DOCUMENT, ficha_post
from .units import unit_of_work

NOTICE = "Esta persona podría tener ya un caso"
# Someone else entirely: other names, other date of birth, other document.
STRANGER = {"nombres": "Marisol", "apellidos": "Cárdenas Ruiz", "fecha_nacimiento": "1990-01-09",
            "numero_documento": "PE7712034", "telefono_seguro": "+56 9 7000 1122", "nacionalidad": "PE"}


# -- helpers ----------------------------------------------------------------------------------------


def signed_in(app: Any, name: str) -> Browser:
    browser = Browser(app, "demo-protocolo-2026")
    browser.login(name)
    return browser


def file(browser: Browser, **changes: Any) -> str:
    """File a Ficha in the browser; the new case's reference."""
    response = browser.submit("/fichas/nueva", ficha_post(**changes))
    assert response.status_code == 303, re.findall(r'<p class="error">([^<]+)', response.text)
    match = re.search(r"/casos/(TP-[0-9A-Z]{4}-[0-9A-Z]{4})$", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def ok(response: Any) -> None:
    assert response.status_code == 303, (response.status_code, re.findall(r'class="error"[^>]*>([^<]+)', response.text))


def notice(browser: Browser, reference: str) -> str | None:
    """The duplicate notice on the case page as this user sees it (None if there is none)."""
    page = browser.get(f"/casos/{reference}")
    assert page.status_code == 200, page.status_code
    match = re.search(r'<section class="flash warning"[^>]*aria-labelledby="dup-title">[\s\S]*?</section>', page.text)
    if match is None:
        assert NOTICE not in page.text
        return None
    assert NOTICE in match.group(0)
    return match.group(0)


def linked(notice_html: str) -> list[str]:
    return re.findall(r'<a href="/casos/(TP-[0-9A-Z-]+)">\1</a>', notice_html)


def digests_of(app: Any, reference: str) -> dict[str, bytes]:
    with unit_of_work(app) as ctx:
        case_id = ctx.session.scalar(select(Case.id).where(Case.reference == reference))
        return {row.kind: row.digest for row in ctx.session.scalars(
            select(BlindIndex).where(BlindIndex.case_id == case_id))}


# -- the notice and who sees it ---------------------------------------------------------------------


@both_backends
def test_the_same_document_written_differently_is_shown_to_the_focal_point_with_a_link(app: Any) -> None:
    health, police, focal = signed_in(app, "salud.rm"), signed_in(app, "policia.rm"), signed_in(app, "coordinador.rm")
    first = file(health, numero_documento="12.345.678-5")
    second = file(police, **{**STRANGER, "numero_documento": "123456785"})  # other names and birth date
    assert digests_of(app, first)["documento"] == digests_of(app, second)["documento"]

    shown = notice(focal, second)
    assert shown is not None and linked(shown) == [first]
    assert "fuera del alcance" not in shown  # the focal point takes part in both cases: nothing elsewhere
    back = notice(focal, first)  # and the earlier case now points to the later one
    assert back is not None and linked(back) == [second]
    assert notice(focal, file(health, **STRANGER, region="CL-RM")) is not None  # STRANGER matches `second`


def test_the_same_names_in_another_order_case_and_accents_with_the_same_birth_date_match(app: Any) -> None:
    health, focal = signed_in(app, "salud.rm"), signed_in(app, "coordinador.rm")
    first = file(health)  # Yulimar Andreína Quintero Belandria, 1996-04-02, VE4417829
    second = file(health, nombres="QUINTERO BELANDRIA", apellidos="yulimar  andreina,", numero_documento="VE5550001",
                  telefono_seguro="+56 9 1111 2222")
    assert digests_of(app, first)["nombre_y_nacimiento"] == digests_of(app, second)["nombre_y_nacimiento"]
    assert digests_of(app, first)["documento"] != digests_of(app, second)["documento"]
    shown = notice(focal, second)
    assert shown is not None and linked(shown) == [first]
    # the detecting node filed both, so it too is told, with the reference
    mine = notice(health, second)
    assert mine is not None and linked(mine) == [first]


@both_backends
def test_a_detecting_node_without_a_relation_to_the_earlier_case_is_told_nothing(app: Any) -> None:
    health, ngo, focal = signed_in(app, "salud.rm"), signed_in(app, "ong"), signed_in(app, "coordinador.rm")
    first = file(health)
    second = file(ngo, numero_documento=VICTIM_DOCUMENT.lower().replace("4", "4 ", 1))  # "ve4 417829"
    assert digests_of(app, first)["documento"] == digests_of(app, second)["documento"]

    shown = notice(focal, second)  # the match exists: the focal point, in both cases, sees it
    assert shown is not None and linked(shown) == [first]
    page = ngo.get(f"/casos/{second}")
    assert page.status_code == 200
    assert NOTICE not in page.text and first not in page.text
    assert "coincidencia" not in page.text and "fuera del alcance" not in page.text
    assert notice(ngo, second) is None
    assert ngo.get(f"/casos/{first}").status_code == 403  # nor may it open the earlier case
    assert notice(health, first) is None  # and the first node is not told that LIBERA knows the person
    ngo.post("/idioma", {"lang": "en"})
    english = ngo.get(f"/casos/{second}").text
    assert "This person may already have a case" not in english and "match" not in english.lower()


@both_backends
def test_a_match_in_another_region_is_counted_for_the_focal_point_and_named_for_national_coordination(
        app: Any) -> None:
    tarapaca, health = signed_in(app, "salud.ta"), signed_in(app, "salud.rm")
    focal, national = signed_in(app, "coordinador.rm"), signed_in(app, "coordinacion.nacional")
    first = file(tarapaca, region="CL-TA", comuna="Iquique")
    second = file(health)

    shown = notice(focal, second)
    assert shown is not None
    assert linked(shown) == [] and first not in shown
    assert "1 coincidencia en un caso fuera del alcance de su nodo" in shown
    assert focal.get(f"/casos/{first}").status_code == 403

    told = notice(national, second)
    assert told is not None and linked(told) == [first]
    assert "fuera del alcance" not in told
    assert notice(health, second) is None  # the detecting node is not in visible_to: no count either
    assert notice(signed_in(app, "coordinador.ta"), first) is not None  # Tarapacá's focal point: counted

    focal.post("/idioma", {"lang": "en"})
    english = focal.get(f"/casos/{second}").text
    assert "1 match in a case outside your node" in english and first not in english


# -- what does not match ----------------------------------------------------------------------------


def test_different_people_thin_identifiers_and_another_birth_date_do_not_match(app: Any) -> None:
    health, focal = signed_in(app, "salud.rm"), signed_in(app, "coordinador.rm")
    first = file(health)
    assert set(digests_of(app, first)) == {"documento", "nombre_y_nacimiento"}
    stranger = file(health, **STRANGER)
    assert notice(focal, stranger) is None and notice(focal, first) is None

    # A three-character "document" and a lone given name without a birth date identify nobody: no index.
    thin = {"numero_documento": "123", "nombres": "Ana", "apellidos": "", "edad_tipo": "desconocida",
            "fecha_nacimiento": "", "telefono_seguro": ""}
    thin_first, thin_second = file(health, **thin), file(health, **thin)
    assert digests_of(app, thin_first) == {} and digests_of(app, thin_second) == {}
    assert notice(focal, thin_second) is None
    one_word = file(health, nombres="Ana", apellidos="", numero_documento="")  # with a birth date, still one word
    assert digests_of(app, one_word) == {}

    # The same names with another date of birth (and another document) are another person.
    other_date = file(health, fecha_nacimiento="1996-04-03", numero_documento="VE4417830")
    assert notice(focal, other_date) is None
    assert digests_of(app, other_date)["nombre_y_nacimiento"] != digests_of(app, first)["nombre_y_nacimiento"]
    assert notice(focal, first) is None


def test_the_stored_digests_are_keyed_per_kind_and_are_not_the_values(app: Any) -> None:
    health = signed_in(app, "salud.rm")
    reference = file(health, numero_documento="12.345.678-5")
    stored = digests_of(app, reference)
    plain = [b"123456785", b"12.345.678-5", b"12345678", b"yulimar", b"Yulimar"]
    for digest in stored.values():
        assert len(digest) == 16
        assert all(value not in digest and digest != value for value in plain)
    with unit_of_work(app) as ctx:
        indexer = blind_indexer(ctx)
        # what is stored is the keyed digest of the normalised value, under the key of its kind...
        assert stored["documento"] == indexer.digest("documento", [normalise_document("12.345.678-5")])
        assert stored["nombre_y_nacimiento"] == indexer.digest(
            "nombre_y_nacimiento", ["andreina belandria quintero yulimar", "1996-04-02"])
        # ...so the same value under the two kinds gives two unrelated digests
        assert indexer.digest("documento", ["123456785"]) != indexer.digest("nombre_y_nacimiento", ["123456785"])
        assert indexer.digest("nombre_y_nacimiento", ["123456785"]) not in stored.values()


def test_amending_the_ficha_reindexes_the_old_document_no_longer_matches_the_new_one_does(app: Any) -> None:
    health, focal = signed_in(app, "salud.rm"), signed_in(app, "coordinador.rm")
    reference = file(health, numero_documento="VE4417829")
    ok(focal.act(reference, "tomar_caso"))
    ok(focal.act(reference, "solicitar_informacion", {"preguntas": "¿El número de pasaporte es correcto?"}))
    ok(health.submit(f"/casos/{reference}/formularios/ficha/editar", ficha_post(numero_documento="VE9900123")))
    assert digests_of(app, reference)["documento"] == digests_of(app, file(health, **{
        **STRANGER, "numero_documento": "ve 9900123"}))["documento"]

    old = file(health, **{**STRANGER, "nombres": "Rosa", "numero_documento": "VE4417829"})
    assert notice(focal, old) is None  # the old number was replaced, not kept beside the new one
    new = file(health, **{**STRANGER, "nombres": "Lucía", "numero_documento": "VE-9900123"})
    shown = notice(focal, new)
    assert shown is not None and reference in linked(shown)
    assert len(digests_of(app, reference)) == 2  # one digest per kind, none left over from revision 1


def test_an_erased_case_is_never_matched_again(app: Any) -> None:
    health, focal = signed_in(app, "salud.rm"), signed_in(app, "coordinador.rm")
    first, second = file(health), file(health, telefono_seguro="+56 9 1111 2222")
    assert linked(notice(focal, second) or "") == [first]
    admin = signed_in(app, "administrador")
    erased = admin.submit("/administracion/eliminar-caso", {"reference": first, "reason": "ingreso_erroneo",
                                                            "confirmation": first})
    assert erased.status_code == 303
    assert digests_of(app, first) == {}
    assert notice(focal, second) is None
    assert notice(signed_in(app, "coordinacion.nacional"), second) is None


# -- the definition refuses indexes that would sort people into a few groups ------------------------


def _index(fields: list[str], normalise: str = "name") -> Callable[[dict[str, Any]], None]:
    def mutate(raw: dict[str, Any]) -> None:
        raw["duplicates"]["indexes"]["nombre_y_nacimiento"] = {"fields": fields, "normalise": normalise}
    return mutate


def test_the_unchanged_copy_of_the_definition_loads(tmp_path: Path) -> None:
    definition = load_definition(rewritten(tmp_path, lambda raw: None))
    assert definition.duplicates is not None
    assert set(definition.duplicates.indexes) == {"documento", "nombre_y_nacimiento"}


@pytest.mark.parametrize(("mutate", "expected"), [
    pytest.param(_index(["fecha_nacimiento"]), ["nombre_y_nacimiento", "never index low-cardinality fields alone"],
                 id="birth-date-alone"),
    pytest.param(_index(["sexo", "nacionalidad"]), ["nombre_y_nacimiento", "never index low-cardinality fields alone"],
                 id="sex-and-nationality"),
    pytest.param(_index(["nombres", "apodo"]), ["nombre_y_nacimiento", "unknown fields", "apodo"], id="unknown-field"),
    pytest.param(_index(["nombres", "apellidos"], "document"), ["nombre_y_nacimiento", "exactly one text field"],
                 id="document-index-of-two-fields"),
    pytest.param(_index(["fecha_nacimiento"], "document"), ["never index low-cardinality fields alone",
                                                            "exactly one text field"], id="document-of-a-date"),
    pytest.param(_index(["nombres", "apellidos"], "soundex"), ["normalise must be one of"], id="unknown-normaliser"),
    pytest.param(lambda raw: raw["duplicates"]["visible_to"].append("vecinos"), ["unknown relation", "vecinos"],
                 id="unknown-relation"),
])
def test_a_definition_with_a_weak_or_wrong_duplicate_index_is_refused(
        tmp_path: Path, mutate: Callable[[dict[str, Any]], None], expected: list[str]) -> None:
    folder = rewritten(tmp_path, mutate)
    with pytest.raises(DefinitionError) as caught:
        load_definition(folder)
    message = str(caught.value)
    assert [fragment for fragment in expected if fragment not in message] == [], message


def test_the_application_refuses_to_start_on_a_low_cardinality_index(tmp_path: Path) -> None:
    folder = rewritten(tmp_path, _index(["sexo", "nacionalidad"]))
    settings = {
        "TESTING": True, "INSTANCE_PATH": str(tmp_path / "instance"), "DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}",
        "MASTER_KEY": MASTER_KEY, "SECRET_KEY": "test-secret", "PASSWORD_PROFILE": "test",
        "RATELIMIT_ENABLED": False, "RATELIMIT_STORAGE_URI": "memory://",
        "WORKFLOWS_DIR": str(folder.parent), "WORKFLOW": folder.name,
    }
    with pytest.raises(StartupError) as caught:
        create_app(settings)
    assert "never index low-cardinality fields alone" in str(caught.value)
