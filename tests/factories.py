"""Typical inputs for the Chilean forms, as a browser posts them and as services take them."""

from __future__ import annotations

import datetime as dt
from typing import Any

VICTIM_GIVEN = "Yulimar Andreína"
VICTIM_SURNAMES = "Quintero Belandria"
VICTIM_DOCUMENT = "VE4417829"
VICTIM_PHONE = "+56 9 8123 4477"


def ficha_post(**changes: Any) -> dict[str, Any]:
    """The Ficha as typed into the web form (strings, lists for checkboxes)."""
    data: dict[str, Any] = {
        "fecha_deteccion": "2026-11-18T09:30", "lugar_deteccion": "chile", "region": "CL-RM",
        "comuna": "Estación Central", "contexto": "centro_salud", "funcionario_cargo": "Enfermera",
        "funcionario_contacto": "+56 2 2574 0000", "solicitante": "institucion",
        "nombres": VICTIM_GIVEN, "apellidos": VICTIM_SURNAMES, "sexo": "F", "edad_tipo": "fecha_nacimiento",
        "fecha_nacimiento": "1996-04-02", "nacionalidad": "VE", "idiomas": ["es"],
        "documentos_identidad": ["pasaporte"], "numero_documento": VICTIM_DOCUMENT,
        "situacion_migratoria": "irregular", "forma_ingreso": "paso_no_habilitado", "telefono_seguro": VICTIM_PHONE,
        "acciones": ["captacion", "traslado"], "medios": ["engano", "vulnerabilidad"], "fines": ["explotacion_sexual"],
        "indicadores": ["deuda", "documentos_retenidos"], "tipo_trata": "sexual", "ambito": "internacional",
        "riesgos_inmediatos": ["sin_alojamiento_seguro"], "denuncia_realizada": "no", "consentimiento": "si",
        "consentimiento_de": "persona",
        "relato": "Refiere deuda con quien la trajo y retención de su pasaporte.",
    }
    data.update(changes)
    return data


def ficha_values(**changes: Any) -> dict[str, Any]:
    """The same Ficha as service-level values (typed)."""
    values: dict[str, Any] = {
        "fecha_deteccion": dt.datetime(2026, 11, 18, 9, 30), "lugar_deteccion": "chile", "region": "CL-RM",
        "comuna": "Estación Central", "contexto": "centro_salud", "funcionario_contacto": "+56 2 2574 0000",
        "solicitante": "institucion", "nombres": VICTIM_GIVEN,
        "apellidos": VICTIM_SURNAMES, "sexo": "F", "edad_tipo": "fecha_nacimiento",
        "fecha_nacimiento": dt.date(1996, 4, 2), "nacionalidad": "VE", "numero_documento": VICTIM_DOCUMENT,
        "telefono_seguro": VICTIM_PHONE, "acciones": ["captacion"], "medios": ["engano"],
        "fines": ["explotacion_sexual"], "indicadores": ["deuda"], "tipo_trata": "sexual", "ambito": "internacional",
        "riesgos_inmediatos": [], "denuncia_realizada": "no", "consentimiento": "si", "consentimiento_de": "persona",
        "nna": False,
    }
    values.update(changes)
    return values


def informe_post(**changes: Any) -> dict[str, Any]:
    data = {
        "nivel_educacional": "media_completa", "nivel_ingresos": "sin_ingresos", "tipo_explotacion": "sexual",
        "redes_apoyo": "Una prima en Santiago.", "opinion_persona": "Quiere trabajar y traer a su hijo.",
        "riesgo": "alto", "riesgo_fundamentos": "La red conoce su domicilio anterior.",
        "proyecto_vida": "Estudiar peluquería.", "evaluacion_profesional": "Requiere alojamiento protegido.",
        "firmante_cargo": "Trabajadora social", "firmado": "y",
    }
    data.update(changes)
    return data


def plan_post(node_id: int, **changes: Any) -> dict[str, Any]:
    data = {
        "objetivos_corto_plazo": "Alojamiento seguro y atención en salud.",
        "objetivos_largo_plazo": "Regularización y trabajo.",
        "acciones-0-necesidad": "alojamiento", "acciones-0-servicio": "alojamiento",
        "acciones-0-nodo_responsable": str(node_id), "acciones-0-plazo": "corto",
        "acciones-0-fecha_compromiso": "2026-12-01", "acciones-0-estado": "pendiente",
        "acuerdo": "si", "opinion": "Quiere empezar por un lugar seguro donde dormir.",
        "acuerdo_fecha": "2026-11-18", "explicado_por": "Trabajadora social del CAVD",
    }
    data.update(changes)
    return data


def residencia_post(**changes: Any) -> dict[str, Any]:
    data = {
        "finalidad": "regularizar", "exencion_costos": "y",
        "certificacion": "en_tramite", "tipo_documento": "pasaporte", "numero_documento": VICTIM_DOCUMENT,
        "pais_documento": "VE", "situacion_migratoria_actual": "irregular", "peligro_grave": "y",
        "fecha_preparacion": "2026-11-18", "permiso_trabajo": "y",
    }
    data.update(changes)
    return data


# A complaint already made: the mandatory-complaint clock (CPP art. 175) does not start. The clock
# tests use it to watch one clock at a time; tests/clocks/test_service.py covers that clock itself.
COMPLAINT_MADE = {"denuncia_realizada": "si", "denuncia_por": "victima_asistida", "denuncia_ante": "fiscalia",
                  "denuncia_fecha": dt.date(2026, 11, 18)}
COMPLAINT_MADE_POST = {"denuncia_realizada": "si", "denuncia_por": "victima_asistida", "denuncia_ante": "fiscalia",
                       "denuncia_fecha": "2026-11-18"}


# One causa penal (RUC of the Fiscalía): personal-adjacent, sealed like every form, never in a URL or a log.
CAUSA_RUC = "2300417852-K"


def causa_post(**changes: Any) -> dict[str, Any]:
    """The causa penal as typed into the web form."""
    data: dict[str, Any] = {
        "ruc": CAUSA_RUC, "fiscalia": "Fiscalía Regional Metropolitana Centro Norte",
        "unidad": "Fiscalía de Alta Complejidad", "fecha_denuncia": "2026-11-18", "delitos": ["trata"],
        "certificacion_victima": "en_tramite", "medidas_proteccion": ["reserva_identidad"],
    }
    data.update(changes)
    return data


def causa_values(**changes: Any) -> dict[str, Any]:
    """The same causa as service-level values (typed)."""
    values: dict[str, Any] = {
        "ruc": CAUSA_RUC, "fiscalia": "Fiscalía Regional Metropolitana Centro Norte", "delitos": ["trata"],
        "certificacion_victima": "en_tramite", "medidas_proteccion": [], "no_punibilidad": False,
    }
    values.update(changes)
    return values
