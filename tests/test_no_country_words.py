"""The code holds no country's words (issue 19): a country is one folder, `workflows/<country>/`.

Everything Chilean (regions, institutions, laws, the workflow's form keys, states and transitions that
code used to name, the demo's people and steps) lives in `workflows/chile/`; `referral/` and the
templates are generic. This test greps them for Chilean words. A hit means a country's fact leaked
into the code: move it to the country folder (docs/countries.md says where), or ask the definition
(e.g. "the flag with `child: true`", `definition.calendar.time_zone`).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = (ROOT / "referral", ROOT / "templates")
SUFFIXES = {".py", ".html", ".txt", ".csv", ".json", ".yaml", ".yml", ".po", ".md", ".cfg", ".ini", ".mako"}
# Alembic's history is frozen: a revision says what it did when it was written.
SKIPPED = (ROOT / "referral" / "migrations" / "versions",)

# Case-insensitive words and patterns.
PLACES = (
    r"\bchile\b", r"\bchilen[oa]s?\b", r"\bsantiago\b", r"\barica\b", r"\bparinacota\b", r"\btarapac[aá]\b",
    r"\bantofagasta\b", r"\bcoquimbo\b", r"\bvalpara[ií]so\b", r"\bmagallanes\b", r"\bbiob[ií]o\b",
    r"\baraucan[ií]a\b", r"\bays[eé]n\b", r"\bo'higgins\b", r"\bñuble\b", r"\bmaule\b", r"\biquique\b",
    r"\btemuco\b", r"\brancagua\b", r"\bcalama\b", r"\bmetropolitana\b", r"\bdemo\.cl\b", r"\+56\b",
)
INSTITUTIONS = (
    r"\bcarabineros\b", r"\bsermig\b", r"\bsernameg\b", r"\bmejor[ -]ni[nñ]ez\b", r"\buravit\b", r"\bbitrap\b",
    r"\bminsal\b", r"\bminrel\b", r"\bdigeconsu\b", r"\bincami\b", r"\bsubsecretar[ií]a de prevenci[oó]n\b",
    r"\bmesa intersectorial sobre trata\b", r"\bseremi\b",
)
LAWS = (r"\b21\.325\b", r"\b20\.507\b", r"\b411 ?qu[aá]ter\b")
# Case-sensitive: acronyms and names that are ordinary words in lower case.
ACRONYMS = (
    r"\bPDI\b", r"\bCAVD\b", r"\bPAV\b", r"\bFiscalía\b", r"\bLIBERA\b", r"\bMITP\b", r"\bRUT\b", r"\bOS-?9\b",
    r"\bCL-[A-Z]{2}\b", r"[\"']CL-?[\"']", r"Región de [A-ZÁÉÍÓÚÑ]",
)
# The Chilean workflow's keys that code used to name (form fields, flags, states, transitions, services):
# quoted, as code would write them. Code asks the definition instead (the child flag, the calendar).
KEYS = (
    "nna", "tomar_caso", "activar", "no_activar", "solicitar_informacion", "iniciar_informe", "enviar_informe",
    "aprobar_informe", "enviar_plan", "aprobar_plan", "iniciar_seguimiento", "registrar_causa",
    "registrar_comunicacion_nna", "proteccion_nna", "solicitar_retorno", "preparar_retorno", "programar_viaje",
    "registrar_llegada", "iniciar_residencia", "presentar_residencia", "registrar_tramite", "otorgar_residencia",
    "informe_social", "decision_activacion", "solicitud_residencia", "retorno_documentos", "ruc",
    "detectado", "en_evaluacion", "informacion_solicitada", "no_activado", "activado", "informe_borrador",
    "informe_enviado", "plan_en_elaboracion", "plan_en_ejecucion", "residencia_presentada", "residencia_otorgada",
    "retorno_voluntario", "punto_focal", "proteccion_especializada", "coordinacion_nacional",
    "servicio_migraciones", "servicio_consular", "plan_accion_2023_2026",
)

PATTERNS = ([re.compile(p, re.IGNORECASE) for p in PLACES + INSTITUTIONS + LAWS]
            + [re.compile(p) for p in ACRONYMS]
            + [re.compile(rf"[\"']{re.escape(key)}[\"']") for key in KEYS])

# Narrow allowances, each a (file, text on the line) pair with its reason. Keep this list short.
ALLOWED: dict[tuple[str, str], str] = {
    ("referral/config.py", 'workflow: str = Field("chile"'):
        "the folder that runs when REFERRAL_WORKFLOW is unset: a setting's default, not one of Chile's facts",
}


def _files() -> list[Path]:
    found = []
    for top in SCANNED:
        for path in sorted(top.rglob("*")):
            if path.is_file() and path.suffix in SUFFIXES and not any(path.is_relative_to(s) for s in SKIPPED):
                found.append(path)
    return found


def country_words() -> list[str]:
    """Every line of the scanned files with a Chilean word: 'path:line: word | line'."""
    hits = []
    for path in _files():
        relative = path.relative_to(ROOT).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if any(file == relative and part in line for file, part in ALLOWED):
                continue
            for pattern in PATTERNS:
                match = pattern.search(line)
                if match:
                    hits.append(f"{relative}:{number}: {match.group(0)} | {line.strip()[:120]}")
                    break
    return hits


def test_the_code_and_templates_hold_no_chilean_words() -> None:
    hits = country_words()
    assert not hits, f"{len(hits)} lines name Chile's facts outside workflows/chile/:\n" + "\n".join(hits)


def test_the_grep_finds_what_it_looks_for() -> None:
    """The patterns match the words they are for (a pattern that matches nothing would pass any code)."""
    samples = ("Hora de Chile continental", "America/Santiago", "CAVD-CL-RM", "flags.get(\"nna\")",
               "Ley 21.325", "art. 411 quáter", "Mejor Niñez", "Carabineros de Chile", "— Región de Tarapacá",
               "fire(user, case, 'tomar_caso')", "nationality == \"CL\"", "x@demo.cl")
    for sample in samples:
        assert any(p.search(sample) for p in PATTERNS), sample
    generic = ("Región de detección", "/cuenta/activar/<token>", "Policía o fiscalía", "un caso de NNA",
               "activar la cuenta", "cerrado", "pago al contado")
    for sample in generic:
        assert not any(p.search(sample) for p in PATTERNS), sample


def test_every_allowance_is_still_needed() -> None:
    for file, part in ALLOWED:
        text = (ROOT / file).read_text(encoding="utf-8")
        assert part in text, f"{file}: the allowance for {part!r} names nothing any more: remove it"
