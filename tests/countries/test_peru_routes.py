"""Peru's route × role matrix (issue 19): along the path of test_peru_path, at each stage, the routes the next
step uses (and the case page, the forms, the worklists, /protocolo, the statistics, /casos) are asked by six of
Peru's demo users (and an anonymous visitor, sent to sign in). A = allowed (GET 200), R = refused (403 or 404); N = reads the case but the step is not hers
(GET: back to the page with the reason, 303; POST: 409). Every refused step is also POSTed, with a valid CSRF
token and the case's current version, and must be refused (the walk then goes on unchanged)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from referral.extensions import database
from referral.kernel.models import Case

from ..backends import both_backends
from .peru import PeruBrowser, node_id
from .test_peru_path import referral_to, walk

# coord  coordinador.lma  coordinador  MIMP-PF-PE-LMA     punto_focal
# lead   upe.lma          gestor       UPE-PE-LMA         receptor of the child-protection referral, then nodo_lider
# car    car.emergencia   gestor       CAR-SANTA-ROSA-1   receptor of the emergency referral (derivacion_alojamiento)
# otro   gestor.aya       gestor       CEM-PE-AYA         none (another departamento)
# aud    auditor          auditor      MIMP               none
# mig    migraciones      migraciones  MIGRACIONES        none (no migratory status request in this case)
USERS = {"coord": "coordinador.lma", "lead": "upe.lma", "car": "car.emergencia", "otro": "gestor.aya",
         "aud": "auditor", "mig": "migraciones"}
UNRELATED = ("otro", "aud", "mig")  # a page they may open never lists the case
C = "/casos/{ref}"
MATRIX = {
    #                                                          coord lead car otro aud mig
    "detectado": f"""
        /fichas/nueva                                           A    A    A    A    R   R
        {C}                                                     A    R    R    R    R   R
        {C}/formularios/ficha                                   A    R    R    R    R   R
        {C}/acciones/tomar_caso                                 A    R    R    R    R   R
        /bandeja/triaje                                         A    R    R    R    R   R
        /protocolo                                              A    A    A    A    A   A
        /auditoria/estadisticas                                 R    R    R    R    A   R
        /auditoria/tablero                                      R    R    R    R    A   R
        /casos                                                  A    A    A    A    R   A
    """,
    "en_evaluacion": f"""
        {C}/consentimientos/nuevo                               A    R    R    R    R   R
        {C}/derivar/proteccion_nna                              A    R    R    R    R   R
    """,
    "nna_derivado": f"""
        {C}/derivaciones/{{nna}}/aceptar                        N    A    R    R    R   R
        {C}/acciones/activar                                    A    R    R    R    R   R
    """,
    "activado": f"""
        {C}                                                     A    A    R    R    R   R
        {C}/derivar/emergencia                                  A    A    R    R    R   R
        {C}/acciones/cerrar                                     A    A    R    R    R   R
        /bandeja/casos_a_cargo                                  R    A    A    A    R   R
    """,
    "car_derivado": f"""
        {C}/derivaciones/{{car}}/aceptar                        N    N    A    R    R   R
    """,
    "car_aceptado": f"""
        {C}/acciones/ingresar_car_emergencia                    A    A    A    R    R   R
    """,
    "en_car": f"""
        {C}/acciones/egresar_car_emergencia                     A    A    A    R    R   R
        {C}/acciones/registrar_persecucion                      A    A    R    R    R   R
        /bandeja/car_emergencia                                 A    A    A    A    R   R
    """,
    "persecucion": f"""
        {C}/formularios/persecucion                             A    A    R    R    R   R
        {C}/acciones/iniciar_plan                               R    A    R    R    R   R
    """,
    "plan_en_elaboracion": f"""
        {C}/formularios/plan_reintegracion/editar               R    A    R    R    R   R
        {C}/acciones/enviar_plan                                R    A    R    R    R   R
    """,
    "plan_enviado": f"""
        {C}/acciones/aprobar_plan                               A    R    R    R    R   R
        {C}/formularios/plan_reintegracion                      A    A    R    R    R   R
        /bandeja/por_aprobar                                    A    R    R    R    R   R
    """,
    "plan_en_ejecucion": f"""
        {C}/acciones/iniciar_seguimiento                        A    A    R    R    R   R
    """,
    "seguimiento": f"""
        {C}/acciones/cerrar                                     A    A    R    R    R   R
    """,
    # The CAR still reads the closed case: its accepted emergency referral keeps its relation.
    "cerrado": f"""
        {C}                                                     A    A    A    R    R   R
        {C}/acciones/reabrir                                    A    R    R    R    R   R
    """,
}
POSTED = ("/acciones/", "/derivar/", "/consentimientos/", "/aceptar", "/editar", "/fichas/nueva")


def rows(stage: str) -> list[tuple[str, dict[str, str]]]:
    table = []
    for line in MATRIX[stage].strip().splitlines():
        path, *codes = line.split()
        assert len(codes) == len(USERS), path
        table.append((path, dict(zip(USERS, codes, strict=True))))
    return table


def version_of(app: Any, reference: str) -> str:
    with app.app_context():
        return str(database.session().scalar(select(Case.version).where(Case.reference == reference)))


def test_every_route_of_the_path_has_an_allowed_and_a_refused_user() -> None:
    for stage in MATRIX:
        for path, codes in rows(stage):
            assert "A" in codes.values() and "R" in codes.values() or path == "/protocolo", path


@both_backends
def test_peru_routes_answer_by_role_and_relation_along_the_path(peru: Any, peru_browser: Any, clock: Any) -> None:
    clients: dict[str, PeruBrowser] = {}
    for column, name in USERS.items():
        clients[column] = peru_browser()
        assert clients[column].login(name).status_code == 302, f"{name} could not sign in"
    anon = peru_browser()
    wrong: list[str] = []
    seen: set[str] = set()

    def probe(stage: str, reference: str) -> None:
        seen.add(stage)
        values = {"ref": reference}
        if stage == "nna_derivado":
            values["nna"] = referral_to(peru, reference, node_id(peru, "UPE-PE-LMA"))
        if stage == "car_derivado":
            values["car"] = referral_to(peru, reference, node_id(peru, "CAR-SANTA-ROSA-1"))
        for template, codes in rows(stage):
            url = template.format(**values)
            anonymous = anon.get(url)
            if anonymous.status_code != 302 or not anonymous.headers["Location"].startswith("/ingresar"):
                wrong.append(f"{stage}: GET {url} anonymously: {anonymous.status_code}, expected the sign-in page")
            for column, expected in codes.items():
                answer = clients[column].get(url)
                got = answer.status_code
                if got not in {"A": (200,), "R": (403, 404), "N": (303,)}[expected]:
                    wrong.append(f"{stage}: GET {url} as {USERS[column]}: {got}, expected {expected}")
                elif got == 200 and column in UNRELATED and reference in answer.text:
                    wrong.append(f"{stage}: GET {url} as {USERS[column]} lists the case")
                if expected != "A" and any(part in template for part in POSTED):
                    posted = clients[column].post(url, {"case_version": version_of(peru, reference), "confirmo": "si"})
                    if posted.status_code not in {"R": (403, 404), "N": (409,)}[expected]:
                        wrong.append(f"{stage}: POST {url} as {USERS[column]}: {posted.status_code}, expected {expected}")

    walk(peru, peru_browser, clock, probe)
    assert seen == set(MATRIX)
    assert not wrong, "\n".join(wrong)
