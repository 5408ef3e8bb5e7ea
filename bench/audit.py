"""How fast auditors' figures and the audit-log check are at scale: 100,000 cases, 4 million audit events.

The issues' targets, on this 2-core machine and PostgreSQL: the auditors' statistics page and the
dashboard each under 1 second, and `flask audit verify` over 4 million events within 30 seconds with
its default workers, one process per core (issue 17; 60 seconds in one process before it).

A throw-away database is built (migrations, the demo network), then filled with bulk inserts
(PostgreSQL: COPY; SQLite: executemany), in batches of 1,000 cases, nothing through the ORM:
100,000 cases (1,200 with --quick, enough for a year's annual report) detected uniformly from 2013-01-01 to the moment of the build,
each simulated through the Chile workflow with seeded random delays, and cut at the build moment:

- `cases` (minimal rows: state, region, detecting node, flags {"nna"}, no sealed content);
- `case_stats` and `case_stat_steps`, as the projection writes them: categories drawn with the
  proportions of ../shared/data/calibration.json (sex and type of trafficking jointly, nationality,
  age group, child; region of detection as the demo draws it; constants copied from that file when
  it is absent, as in CI), state, entry (activation), closing type, the residence track of foreign
  victims, and the first time each milestone (triaje, activacion, informe_social, plan,
  decision_residencia) was reached with its days since detection;
- `referrals`: about `referrals_per_case` (calibration: 5) per case on average, most of them in
  activated cases (derivaciones to a node offering the service, emergencies, child-protection
  referrals to Mejor Niñez), answered or not, done or not, as of the build moment;
- `case_clocks`: triage, Informe Social, plan and follow-up clocks of each case and one answer clock
  per referral: stopped in time or late, stopped because the case closed, running, running overdue;
- `audit_events`: exactly 40 per case (`events_per_case`), the case's steps (intake, transitions,
  forms saved, referral steps; the first 36 when it has more) and reads of its pages in between
  (at least 4), all up to the build moment, numbered and hash-chained in time
  order over the whole installation with the product's own `canonical` and `link`
  (referral/audit/chain.py, as `record()` does); `audit_head` then names the last link.

PostgreSQL then gets VACUUM ANALYZE (what autovacuum leaves on a live database), SQLite ANALYZE.
On that database, in this order:

1. `verify_<N>_events_s` (the same figure as `verify_parallel_s`): `python -m flask --app wsgi audit
   verify` as a subprocess, end to end (interpreter and app start-up included), with its default
   number of worker processes (`verify_workers_count`, one per core), with the bench's settings in its
   environment (DATABASE_URL, REFERRAL_INSTANCE_PATH, master key, session secret); it must exit 0 and
   say it checked exactly N events. Alternated with `verify_single_s`, the same command with
   `--workers 1` (`verify_speedup_ratio` = single / parallel), `verify_inprocess_s`,
   `verify_log(session)` in this process (one walk, without start-up; `verify_vs_inprocess_ratio` =
   single / in process), and `cli_startup_s`, `flask --app wsgi audit --help` (start-up alone). First one untimed in-process check and one start-up (they warm the database's and
   the system's caches that a CLI run, a fresh process, finds), then the median of 3 runs of each.
2. `statistics_page_s`, `dashboard_s`, `annual_report_s`: HTTP GET /auditoria/estadisticas,
   /auditoria/tablero and /auditoria/informe-anual?anio=<this year> (issue 18: target 2 s; every table of
   the workflow's statistics.report, which reads the whole projection) through the Flask test client, signed in as the demo auditor (`auditor`), no filters (every case),
   status 200 required; alternated with the baseline `count_cases_ms`, a plain
   `SELECT count(*) FROM case_stats` on a pooled connection, so that the pages can be read against the
   database's raw speed (`statistics_vs_count_ratio`, `dashboard_vs_count_ratio`). Two untimed
   rounds (one for the SQLite reference and with --quick), then the median of 5 (3 for the
   reference, 2 with --quick). Before that, one untimed request
   of each page with its SQL recorded: `*_sql_ms` (time in the driver, rows fetched) and
   `*_queries_count`; the slowest statements are printed on stderr.

Sizes: `cases_count`, `events_count`, `referrals_count`, `clocks_count`, `steps_count`; `load_s` is the
whole generation (simulation, hashing, inserts), `vacuum_analyze_s` the statistics refresh after it.

Databases: PostgreSQL when reachable (`BENCH_POSTGRES_URL`, else `TEST_POSTGRES_URL`, else
postgres@127.0.0.1:5432; a database `referral_bench_audit_<pid>` is created and dropped, also on
failure), then SQLite at 2,000 cases (`sqlite_*`; with --quick at the --quick size), as a reference.
If PostgreSQL is not reachable, SQLite alone at the requested size, and `postgresql_count` is 0.
With --quick each check runs once, cold (no untimed run first): the quick size exercises every
step for the test suite (tests/test_benchmarks_quick.py) and its times are not figures to quote. The auditor's sign-in (a `login.ok`
event) comes after the checks, so each check counts exactly the generated events.

Duration on 2 cores: --quick about 40 seconds; full size about 16 minutes on a busy machine (7 Dec 2026):
the generation about 9 minutes, the 10 checks of 4 million events (an untimed one in process, then 3
each of the CLI with its default workers, with one worker, and in process) about 5.5 minutes.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import json
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import JSON, Engine, func, insert, select, text, update

from referral import create_app
from referral.audit.chain import canonical, link
from referral.audit.models import GENESIS, AuditEvent, AuditHead
from referral.audit.service import HEAD_ID, verify_log
from referral.audit.verifying import default_workers
from referral.auth.models import User
from referral.kernel.models import Case
from referral.clocks.models import RUNNING, STOPPED, CaseClock
from referral.db import Base, utcnow
from referral.demo.country import default_folder, load_script
from referral.extensions import database
from referral.models import import_all
from referral.network.models import Assignment, Node, Region
from referral.kernel.referral_models import Referral
from referral.stats.models import CaseStatStep
from referral.units import unit_of_work
from referral.workflow import WorkflowDefinition

from .support import (
    Clock, Metrics, Progress, captured_sql, cli_environment, interleaved, load_average, logged_in, median,
    migrate_with_network, postgres_database, postgres_reachable, refresh_statistics, settings, timed_ms,
)

# The benchmark runs Chile's demo (workflows/chile/demo.py): its accounts' domain and its people's shares.
_SCRIPT = load_script(default_folder())
DOMAIN, region_suffix = _SCRIPT.DOMAIN, _SCRIPT.region_suffix
ADULT_BRACKETS, MAIN_REGIONS = _SCRIPT.ADULT_BRACKETS, _SCRIPT.MAIN_REGIONS


ROOT = Path(__file__).resolve().parents[1]
CALIBRATION = ROOT.parent / "shared" / "data" / "calibration.json"
SEED = 2026
STATISTICS_URL = "/auditoria/estadisticas"
DASHBOARD_URL = "/auditoria/tablero"
REPORT_URL = "/auditoria/informe-anual?anio={year}"  # the annual report of the build moment's year (issue 18)
# The annual report's own categories (workflow statistics.report), drawn uniformly: the report reads them all.
REPORT_CHOICES = {
    "ambito": ("interna", "internacional", "sin_informacion"),
    "situacion_migratoria": ("chilena", "regular", "irregular", "turista", "solicitante_refugio", "sin_informacion"),
    "forma_ingreso": ("regular", "paso_no_habilitado", "turista", "no_aplica", "sin_informacion"),
    "nivel_educacional": ("basica_completa", "media_incompleta", "media_completa", "tecnica", "universitaria",
                          "sin_informacion"),
}
REPORT_MARKS = {  # multiple choice: one to three marks each
    "medios": ("engano", "coaccion", "abuso_poder", "vulnerabilidad"),
    "fines": ("explotacion_sexual", "trabajos_forzados", "servidumbre", "mendicidad_forzada"),
    "indicadores": ("promesa_enganosa", "salario_impago", "deuda", "documentos_retenidos", "hacinamiento"),
    "riesgos": ("peligro_inminente", "necesidad_medica_urgente", "sin_alojamiento_seguro", "tratante_busca"),
}
AUDITOR = "auditor"  # referral/demo/network.py: the Mesa's technical secretariat, part of SERMIG
CASES_PER_BATCH = 1000  # one transaction (and one COPY per table) per batch: about 40,000 events
CLI_TIMEOUT_S = 900
REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # as referral/cases/intake.py
VERIFIED = re.compile(r"(\d+) eventos verificados")

# Copied from ../shared/data/calibration.json (the figures this benchmark uses), for checkouts without
# ../shared (CI clones only this repository). When the file is there, it is read instead.
FALLBACK_CALIBRATION: dict[str, Any] = {
    "protocol_entries_2013_2023": {
        "total": 340, "by_type": {"sexual": 129, "laboral": 211}, "by_sex": {"F": 227, "M": 113},
        "top_nationalities_share": {"VE": 0.25, "BO": 0.224, "CO": 0.126},
        "other_nationalities_seen": ["PY", "PE", "CN", "HT", "DO", "EC", "CL", "AR", "BR", "PH", "IN", "KR", "ID",
                                     "PL", "CU", "MX", "UY"],
    },
    "formalised_cases_2011_2023": {
        "victims": 405, "victims_by_sex": {"M": 152, "F": 243, "unknown": 10},
        "sexual": {"share_female": 0.994},
        "minors": {"victims": 35, "ages": {"5": 1, "14": 2, "15": 5, "16": 9, "17": 16, "unknown": 2}},
    },
    "identified_cases_2011_2023": {"victims": 715},
    "scale_for_load_tests": {"large": {"cases": 100000, "events_per_case": 40, "referrals_per_case": 5}},
}

# Assumptions where the published figures are silent (each a share of cases, or days).
OTHER_SEX_SHARE = 0.005  # «otro»: not in the published figures
OTHER_TYPE_SHARE, UNKNOWN_TYPE_SHARE = 0.03, 0.02  # «otra», «sin_informacion»: the figures count two types
ADULT_AGE_UNKNOWN_SHARE = 0.03  # neither a birth date nor an estimated age on the Ficha
INFO_REQUEST_SHARE = 0.15  # the focal point asks the detecting node for more information
EMERGENCY_BEFORE_DECISION_SHARE = 0.3  # an emergency referral before activation (activated or not)
LEAD_IS_FOCAL_SHARE = 0.6  # the regional CAVD leads the case; otherwise another node of the region
EARLY_CLOSE_SHARE = 0.2  # closed before follow-up (withdrawal, lost contact, return...)
RESIDENCE_SHARE = 0.6  # foreign victims whose temporary residence is requested
PERMANENT_SHARE = 0.3  # granted permits later made permanent
REFERRAL_OUTCOMES = (("aceptada", 0.85), ("rechazada", 0.12), ("revocada", 0.03))  # of answered referrals
DONE_SHARE = 0.8  # accepted referrals recorded as done (the rest: not done)
EARLY_CLOSINGS = (("desiste", 0.35), ("perdida_contacto", 0.35), ("traslado", 0.15), ("retorno_asistido", 0.13),
                  ("fallecimiento", 0.02))
LATE_CLOSINGS = (("objetivos_cumplidos", 0.7), ("retorno_asistido", 0.12), ("traslado", 0.08),
                 ("perdida_contacto", 0.06), ("desiste", 0.04))
REFUSALS = ("sin_cupo", "fuera_de_competencia", "fuera_de_cobertura", "persona_no_cumple_requisitos", "otro")
NOT_DONE = ("persona_desiste", "perdida_de_contacto", "servicio_no_disponible", "otro")
MIN_READS = 4  # reads of a case's pages among its events, at least (steps beyond the rest are not logged)
# The statistics' age brackets (workflow.yaml) for the demo's adult brackets (referral/demo/people.py).
ADULT_GROUP = {18: "18-29", 30: "30-45", 46: "46-59", 61: "60+"}

START = dt.datetime(2013, 1, 1, tzinfo=dt.UTC)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
DAY = 86_400_000_000  # microseconds: every moment below is an integer of them since EPOCH
HOUR = DAY // 24


@dataclass(frozen=True)
class Size:
    cases: int
    page_warmup: int
    page_repetitions: int
    verify_warmup: int
    verify_repetitions: int


FULL = Size(cases=100_000, page_warmup=2, page_repetitions=5, verify_warmup=1, verify_repetitions=3)
# The SQLite reference beside a full PostgreSQL run.
REFERENCE = Size(cases=2_000, page_warmup=1, page_repetitions=3, verify_warmup=1, verify_repetitions=3)
# A run that every part of the benchmark goes through, small enough for the test suite: its figures
# are single cold samples, not measurements.
QUICK = Size(cases=1_200, page_warmup=1, page_repetitions=2, verify_warmup=0, verify_repetitions=1)

# -- what the simulation writes -------------------------------------------------------------------------

# Column order of the row tuples, per table, in insert order (parents first).
COLUMNS: dict[str, tuple[str, ...]] = {
    "cases": ("id", "reference", "workflow", "workflow_version", "state", "region_code", "detecting_node_id", "flags",
              "priority", "intake_token", "summary", "key_version", "version", "created_at", "updated_at",
              "state_changed_at"),
    "case_stats": ("case_id", "pseudonym", "region_code", "detecting_org_type", "state", "tracks", "attributes",
                   "detected_at", "entered_at", "closed_at", "closing", "record_key"),
    "case_stat_steps": ("case_id", "milestone", "at", "days"),
    "referrals": ("id", "case_id", "kind", "service", "relation", "from_node_id", "to_node_id", "state", "due_on",
                  "consent_id", "override_reason", "answer_reason", "details", "created_by_user_id", "created_at",
                  "answered_at", "ended_at", "version"),
    "case_clocks": ("case_id", "clock", "subject", "period", "status", "started_at", "due_at", "next_at", "step",
                    "escalation", "breached_at", "stopped_at", "stop_reason", "enqueued_at"),
    "audit_events": ("seq", "at", "action", "actor_role", "actor_node_id", "case_pseudonym", "subject", "details",
                     "prev_hash", "hash"),
}
Row = tuple[Any, ...]
# One audit event of a case before it is numbered: (at, action, role, node id, subject, details).
Event = tuple[int, str, str, int, str | None, dict[str, Any]]


def moment(at: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=at)


def micros(when: dt.datetime) -> int:
    return (when - EPOCH) // dt.timedelta(microseconds=1)


def run(quick: bool, progress: Progress) -> Metrics:
    size = QUICK if quick else FULL
    import_all()
    calibration, source = _calibration()
    progress(f"calibration: {source}")
    metrics: Metrics = {}
    with tempfile.TemporaryDirectory(prefix="referral-bench-audit-") as name:
        folder = Path(name)
        if postgres_reachable():
            with postgres_database(progress, "referral_bench_audit") as url:
                metrics.update(_measure("postgresql", url, folder / "postgresql", size, calibration, progress))
            metrics["postgresql_count"] = 1
            reference = QUICK if quick else REFERENCE
            progress(f"the same on SQLite at {reference.cases} cases, for reference")
            sqlite = _measure("sqlite", f"sqlite:///{folder / 'sqlite' / 'bench.db'}", folder / "sqlite", reference,
                              calibration, progress)
            metrics.update({f"sqlite_{key}": value for key, value in sqlite.items()})
        else:
            progress("PostgreSQL not reachable: SQLite only")
            metrics.update(_measure("sqlite", f"sqlite:///{folder / 'sqlite' / 'bench.db'}", folder / "sqlite", size,
                                    calibration, progress))
            metrics["postgresql_count"] = 0
    return metrics


def _calibration() -> tuple[dict[str, Any], str]:
    if CALIBRATION.is_file():
        return json.loads(CALIBRATION.read_text(encoding="utf-8")), str(CALIBRATION)
    return FALLBACK_CALIBRATION, f"{CALIBRATION} absent: the constants copied from it"


# -- one database -------------------------------------------------------------------------------------------


def _measure(name: str, url: str, folder: Path, size: Size, calibration: dict[str, Any],
             progress: Progress) -> Metrics:
    folder.mkdir(parents=True, exist_ok=True)
    now = utcnow().replace(microsecond=0)
    app = create_app(settings(folder / "instance", url, Clock(now)))
    engine = database.engine(app)
    metrics: Metrics = {}
    try:
        migrate_with_network(app)
        events_per_case = int(calibration["scale_for_load_tests"]["large"]["events_per_case"])
        progress(f"{name}: generating {size.cases} cases with {events_per_case} audit events each")
        began = time.perf_counter()
        with unit_of_work(app) as ctx:
            world = World.read(ctx.session, ctx.definition, calibration, now)
        loaded = _load(engine, world, size.cases, events_per_case, progress)
        metrics["load_s"] = round(time.perf_counter() - began, 1)
        began = time.perf_counter()
        refresh_statistics(engine)
        metrics["vacuum_analyze_s"] = round(time.perf_counter() - began, 1)
        metrics.update(_sizes(engine, loaded))
        progress(f"{name}: loaded in {metrics['load_s']} s ({loaded.events / metrics['load_s']:,.0f} events/s), "
                 f"{'VACUUM ANALYZE' if name == 'postgresql' else 'ANALYZE'} {metrics['vacuum_analyze_s']} s: "
                 + ", ".join(f"{key.removesuffix('_count')} {value:,}" for key, value in metrics.items()
                             if key.endswith("_count")))
        metrics.update(_verify(app, url, folder, loaded.events, size, progress))
        metrics.update(_pages(app, size, progress))
    finally:
        engine.dispose()
    return metrics


@dataclass(frozen=True)
class Loaded:
    cases: int
    events: int
    head_seq: int


def _sizes(engine: Engine, loaded: Loaded) -> Metrics:
    """Rows in each table, counted back; the chain's head must be the last event."""
    with engine.connect() as connection:
        counts = {table: int(connection.scalar(select(func.count()).select_from(model)) or 0)
                  for table, model in (("cases", Case), ("events", AuditEvent), ("referrals", Referral),
                                       ("clocks", CaseClock), ("steps", CaseStatStep))}
        head = connection.scalar(select(AuditHead.seq).where(AuditHead.id == HEAD_ID))
    if counts["cases"] != loaded.cases or counts["events"] != loaded.events or head != loaded.events:
        raise RuntimeError(f"loaded {loaded.cases} cases and {loaded.events} events; the database holds "
                           f"{counts['cases']} and {counts['events']}, head at {head}")
    return {f"{table}_count": value for table, value in counts.items()}


# -- the network and the proportions ------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """A weighted draw: rng.choices with cumulative weights (the fast path)."""

    codes: tuple[str, ...]
    cumulative: tuple[float, ...]

    @classmethod
    def of(cls, pairs: list[tuple[str, float]] | tuple[tuple[str, float], ...]) -> Choice:
        return cls(tuple(code for code, _ in pairs), tuple(itertools.accumulate(weight for _, weight in pairs)))

    def draw(self, rng: random.Random) -> str:
        return rng.choices(self.codes, cum_weights=self.cumulative)[0]


EARLY_CLOSING, LATE_CLOSING = Choice.of(EARLY_CLOSINGS), Choice.of(LATE_CLOSINGS)
REFERRAL_OUTCOME = Choice.of(REFERRAL_OUTCOMES)


@dataclass(frozen=True)
class Proportions:
    """The categories' shares, from calibration.json (see the assumptions above for what it does not say)."""

    unknown_sex: float
    female: float
    sexual_given: dict[str, float]  # sex -> share of sexual exploitation
    sexual: float
    nationality: Choice
    minor: float
    minor_group: Choice
    adult_group: Choice
    region: Choice
    activated: float
    referrals_per_case: float
    events_per_case: int

    @classmethod
    def of(cls, calibration: dict[str, Any], regions: list[str]) -> Proportions:
        entries = calibration["protocol_entries_2013_2023"]
        formalised = calibration["formalised_cases_2011_2023"]
        large = calibration["scale_for_load_tests"]["large"]
        total = entries["total"]
        female, sexual = entries["by_sex"]["F"] / total, entries["by_type"]["sexual"] / total
        share_female = formalised["sexual"]["share_female"]
        # As referral/demo/people.py: Bayes with the share of women among sexual-exploitation victims.
        sexual_given = {"F": share_female * sexual / female, "M": (1 - share_female) * sexual / (1 - female)}
        top = entries["top_nationalities_share"]
        others = entries["other_nationalities_seen"]
        rest = (1.0 - sum(top.values())) / len(others)
        minors = formalised["minors"]
        minor_ages: dict[str, float] = {}
        for age, count in minors["ages"].items():
            group = "sin_informacion" if age == "unknown" else ("0-13" if int(age) <= 13 else "14-17")
            minor_ages[group] = minor_ages.get(group, 0) + count
        adults = [(ADULT_GROUP[low], share * (1 - ADULT_AGE_UNKNOWN_SHARE)) for low, _high, share in ADULT_BRACKETS]
        others_regions = [r for r in regions if r not in MAIN_REGIONS]
        rest_region = (1.0 - sum(MAIN_REGIONS.values())) / len(others_regions)
        return cls(
            unknown_sex=formalised["victims_by_sex"]["unknown"] / formalised["victims"], female=female,
            sexual_given=sexual_given, sexual=sexual,
            nationality=Choice.of([*top.items(), *((code, rest) for code in others)]),
            minor=minors["victims"] / formalised["victims"], minor_group=Choice.of(list(minor_ages.items())),
            adult_group=Choice.of([*adults, ("sin_informacion", ADULT_AGE_UNKNOWN_SHARE)]),
            region=Choice.of([(r, MAIN_REGIONS.get(r, rest_region)) for r in regions]),
            # A proxy: persons entered into the Protocol over victims identified by the prosecution.
            activated=total / calibration["identified_cases_2011_2023"]["victims"],
            referrals_per_case=float(large["referrals_per_case"]), events_per_case=int(large["events_per_case"]),
        )


@dataclass(frozen=True)
class Actor:
    role: str
    node: int


@dataclass
class World:
    """What the simulation draws from: the demo network, the workflow, the proportions, the build moment."""

    definition: WorkflowDefinition
    shares: Proportions
    now: int
    regions: list[str]
    local_nodes: dict[str, list[int]]  # region -> nodes based there
    national_nodes: list[int]
    org_type: dict[int, str]
    focal: dict[str, int]
    child_protection: dict[str, int]
    migration: int
    coordinator: dict[str, int]  # region -> user id of its focal point's coordinator
    offering: dict[str, list[int]]  # service -> nodes offering it
    referable: tuple[str, ...]  # services a derivación may ask for
    emergency: tuple[str, ...]
    relation: dict[str, str]  # service -> relation of the receiving node

    @classmethod
    def read(cls, session: Any, definition: WorkflowDefinition, calibration: dict[str, Any],
             now: dt.datetime) -> World:
        regions = list(session.scalars(select(Region.code).order_by(Region.position)))
        local: dict[str, list[int]] = {r: [] for r in regions}
        national: list[int] = []
        org_type: dict[int, str] = {}
        offering: dict[str, list[int]] = {}
        for node in session.scalars(select(Node).order_by(Node.id)):
            org_type[node.id] = node.org_type
            (national if node.level == "national" or node.home_region is None else local[node.home_region]).append(
                node.id)
            for service in node.services or []:
                offering.setdefault(service, []).append(node.id)
        assignments = session.execute(select(Assignment.function, Assignment.region_code, Assignment.node_id)).all()
        by_function = {(function, region): node for function, region, node in assignments}
        users = dict(session.execute(select(User.email, User.id)).tuples().all())
        services = definition.network.services
        kinds = definition.network.referrals.kinds if definition.network.referrals else {}
        return cls(
            definition=definition, shares=Proportions.of(calibration, regions), now=micros(now), regions=regions,
            local_nodes=local, national_nodes=national, org_type=org_type,
            focal={r: by_function[("punto_focal", r)] for r in regions},
            child_protection={r: by_function[("proteccion_especializada", r)] for r in regions},
            migration=by_function[("servicio_migraciones", None)],
            coordinator={r: users[f"coordinador.{region_suffix(r)}@{DOMAIN}"] for r in regions},
            offering=offering,
            referable=tuple(key for key, s in services.items() if s.relation and key != "proteccion_nna"),
            emergency=tuple(kinds["emergencia"].services) if "emergencia" in kinds else ("alojamiento",),
            relation={key: s.relation for key, s in services.items() if s.relation},
        )


# -- one case's life ----------------------------------------------------------------------------------------


@dataclass
class Built:
    """The rows of one case and its audit events (sorted by time, not yet numbered)."""

    rows: dict[str, list[Row]]
    pseudonym: str
    events: list[Event]


@dataclass
class Step:
    """A transition that fired: when, which, from and to which state, by whom; its milestone if any."""

    at: int
    key: str
    source: str | None
    target: str
    actor: Actor
    machine: str = ""


@dataclass
class ReferralLife:
    id: uuid.UUID
    kind: str
    service: str
    sender: Actor
    receiver: Actor
    created: int
    answered: int
    outcome: str  # aceptada | rechazada | revocada
    ended: int | None  # accepted ones: when recorded as done / not done
    done: bool
    reason: str | None = None


@dataclass
class Simulator:
    world: World
    rng: random.Random
    milestones: dict[str, str] = field(default_factory=dict)  # transition -> milestone
    references: set[str] = field(default_factory=set)  # given so far

    def __post_init__(self) -> None:
        for key, milestone in self.world.definition.statistics.milestones.items():
            for transition in milestone.transitions:
                self.milestones[transition] = key

    def days(self, mean: float, least: float = 0.0) -> int:
        """A delay: `least` days plus an exponential wait of mean `mean` days."""
        return int((least + self.rng.expovariate(1.0 / mean)) * DAY)

    def case(self, index: int, detected: int) -> Built:
        w, rng, now = self.world, self.rng, self.world.now
        shares = w.shares
        region = shares.region.draw(rng)
        local = w.local_nodes[region] or [w.focal[region]]
        detector_node = rng.choice(local if rng.random() < 0.7 else w.national_nodes)
        detector = Actor("coordinador" if detector_node == w.focal[region] else "deteccion", detector_node)
        focal = Actor("coordinador", w.focal[region])
        attributes, minor = self.categories()
        case_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        pseudonym = f"{rng.getrandbits(96):024x}"

        # The main machine, as it would run with no end; cut at closing, then at the build moment.
        steps: list[Step] = []
        triage = detected + self.days(0.8, 0.05)
        steps.append(Step(triage, "tomar_caso", "detectado", "en_evaluacion", focal))
        ready = triage
        if rng.random() < INFO_REQUEST_SHARE:
            asked = triage + self.days(1)
            ready = asked + self.days(4, 0.5)
            steps.append(Step(asked, "solicitar_informacion", "en_evaluacion", "informacion_solicitada", focal))
            steps.append(Step(ready, "responder_informacion", "informacion_solicitada", "en_evaluacion", detector))
        decided = ready + self.days(3, 0.2)
        activated = rng.random() < shares.activated
        referrals: list[ReferralLife] = []
        if minor:
            referrals.append(self.referral("proteccion_nna", "proteccion_nna", focal,
                                           Actor("gestor", w.child_protection[region]),
                                           triage + (decided - triage) // 3))
        if rng.random() < EMERGENCY_BEFORE_DECISION_SHARE:
            service = rng.choice(w.emergency)
            referrals.append(self.referral("emergencia", service, focal, self.receiver(service),
                                           rng.randint(detected, decided)))
        lead = focal
        closed: int | None = None
        closing: str | None = None
        track: list[Step] = []
        if not activated:
            steps.append(Step(decided, "no_activar", "en_evaluacion", "no_activado", focal))
            closed = decided
            active_until = decided + 10 * DAY
        else:
            steps.append(Step(decided, "activar", "en_evaluacion", "activado", focal))
            if rng.random() >= LEAD_IS_FOCAL_SHARE:
                lead = Actor("gestor", rng.choice(local))
            else:
                lead = Actor("gestor", focal.node)
            started = decided + self.days(1.5)
            sent = started + self.days(12, 2)
            approved = sent + self.days(3)
            plan_sent = approved + self.days(12, 2)
            plan_ok = plan_sent + self.days(3)
            follow_up = plan_ok + self.days(120, 60)
            steps += [Step(started, "iniciar_informe", "activado", "informe_social", lead),
                      Step(sent, "enviar_informe", "informe_social", "informe_social", lead),
                      Step(approved, "aprobar_informe", "informe_social", "plan_en_elaboracion", focal),
                      Step(plan_sent, "enviar_plan", "plan_en_elaboracion", "plan_en_elaboracion", lead),
                      Step(plan_ok, "aprobar_plan", "plan_en_elaboracion", "plan_en_ejecucion", focal),
                      Step(follow_up, "iniciar_seguimiento", "plan_en_ejecucion", "seguimiento", lead)]
            if rng.random() < EARLY_CLOSE_SHARE:
                closed = rng.randint(decided + HOUR, follow_up)
                closing = EARLY_CLOSING.draw(rng)
            else:
                closed = follow_up + self.days(300, 60)
                closing = LATE_CLOSING.draw(rng)
            steps = [s for s in steps if s.at < closed]
            steps.append(Step(closed, "cerrar", steps[-1].target, "cerrado", lead))
            if attributes["nacionalidad"] != "CL" and rng.random() < RESIDENCE_SHARE:
                track = self.residence(decided, closed, lead)
            count = self.referral_count()
            end = min(closed, follow_up + 60 * DAY)
            for created in sorted(rng.randint(decided, end) for _ in range(count)):
                if rng.random() < 0.15:
                    service, kind = rng.choice(w.emergency), "emergencia"
                else:
                    service, kind = rng.choice(w.referable), "derivacion"
                referrals.append(self.referral(kind, service, lead, self.receiver(service), created))
            active_until = closed + 20 * DAY

        # As of the build moment.
        steps = [s for s in steps if s.at <= now]
        track = [s for s in track if s.at <= now]
        referrals = [r for r in referrals if r.created <= now]
        state = steps[-1].target if steps else "detectado"
        is_closed = closed is not None and closed <= now
        entered = next((s.at for s in steps if s.key == "activar"), None)
        reached: dict[str, int] = {}
        for s in [*steps, *track]:
            milestone = self.milestones.get(s.key)
            if milestone is not None and milestone not in reached:
                reached[milestone] = s.at
        last_change = steps[-1].at if steps else detected

        rows: dict[str, list[Row]] = {table: [] for table in COLUMNS}
        rows["cases"].append((
            case_id, self.reference(), w.definition.key, w.definition.version, state, region, detector.node,
            {"nna": minor}, 1 if minor else 0, f"bench-audit-{index}", None, 1, 1, moment(detected),
            moment(max([last_change, *(r.created for r in referrals)])), moment(last_change)))
        rows["case_stats"].append((
            case_id, pseudonym, region, w.org_type[detector.node], state,
            {"residencia": track[-1].target} if track else {}, attributes, moment(detected),
            moment(entered) if entered is not None else None, moment(closed) if is_closed and closed else None,
            closing if is_closed and state == "cerrado" else None, rng.getrandbits(31)))
        for milestone, at in reached.items():
            rows["case_stat_steps"].append((case_id, milestone, moment(at), (at - detected) / DAY))
        clocks = rows["case_clocks"]
        close_at = closed if is_closed else None
        by_key = {s.key: s.at for s in steps}
        decision = by_key.get("activar") or by_key.get("no_activar")
        clocks += self.clock(case_id, "triaje", detected, DAY, decision, close_at)
        if entered is not None:
            clocks += self.clock(case_id, "informe_social", entered, 14 * DAY, by_key.get("enviar_informe"), close_at)
        if "aprobar_informe" in by_key:
            clocks += self.clock(case_id, "plan", by_key["aprobar_informe"], 14 * DAY, by_key.get("enviar_plan"),
                                 close_at)
        if state == "seguimiento":
            period = (now - by_key["iniciar_seguimiento"]) // (30 * DAY)
            clocks += self.clock(case_id, "seguimiento", by_key["iniciar_seguimiento"] + period * 30 * DAY, 30 * DAY,
                                 None, None, period + 1)
        events: list[Event] = [(detected, "intake.ficha", detector.role, detector.node, None, {"to": "detectado"})]
        for s in [*steps, *track]:
            details: dict[str, Any] = {"from": s.source, "to": s.target} if s.source else {"to": s.target}
            if s.machine:
                details["machine"] = s.machine
            events.append((s.at, f"transition.{s.key}", s.actor.role, s.actor.node, None, details))
            if s.key in ("iniciar_informe", "aprobar_informe"):  # the form filled in this state
                form = "informe_social" if s.key == "iniciar_informe" else "plan"
                saved = s.at + self.days(2)
                if saved <= now and (close_at is None or saved < close_at):
                    events.append((saved, f"form_saved.{form}", lead.role, lead.node, None, {"from": s.target}))
        for r in referrals:
            rows["referrals"].append(self.referral_row(r, case_id, w.coordinator[region]))
            clocks += self.clock(case_id, "respuesta_emergencia" if r.kind == "emergencia" else "respuesta_derivacion",
                                 r.created, 4 * HOUR if r.kind == "emergencia" else 3 * DAY,
                                 r.answered, None, subject=str(r.id))
            events += self.referral_events(r)
        events.sort(key=lambda e: e[0])
        del events[shares.events_per_case - MIN_READS:]
        readers = [focal, detector, lead]
        last = min(now, active_until)
        for _ in range(shares.events_per_case - len(events)):
            reader = rng.choice(readers)
            page = rng.choice(("case", "case", "form:ficha") if reader is not lead else ("case", "form:informe_social"))
            events.append((rng.randint(detected, last), "read", reader.role, reader.node, None,
                           {"page": page, "revision": 1} if page.startswith("form:") else {"page": page}))
        events.sort(key=lambda e: e[0])
        return Built(rows, pseudonym, events)

    def reference(self) -> str:
        """A random reference as the product makes them (TP-7KQ2-9XHF), seeded, never one already given."""
        while True:
            body = "".join(self.rng.choices(REFERENCE_ALPHABET, k=8))
            reference = f"TP-{body[:4]}-{body[4:]}"
            if reference not in self.references:
                self.references.add(reference)
                return reference

    def categories(self) -> tuple[dict[str, str], bool]:
        rng, shares = self.rng, self.world.shares
        draw = rng.random()
        if draw < shares.unknown_sex:
            sex = "sin_informacion"
            p_sexual = shares.sexual
        elif draw < shares.unknown_sex + OTHER_SEX_SHARE:
            sex = "otro"
            p_sexual = shares.sexual
        else:
            sex = "F" if rng.random() < shares.female else "M"
            p_sexual = shares.sexual_given[sex]
        draw = rng.random()
        if draw < UNKNOWN_TYPE_SHARE:
            kind = "sin_informacion"
        elif draw < UNKNOWN_TYPE_SHARE + OTHER_TYPE_SHARE:
            kind = "otra"
        else:
            kind = "sexual" if rng.random() < p_sexual else "laboral"
        minor = rng.random() < shares.minor
        group = (shares.minor_group if minor else shares.adult_group).draw(rng)
        report: dict[str, Any] = {key: rng.choice(codes) for key, codes in REPORT_CHOICES.items()}
        report.update({key: sorted(rng.sample(codes, rng.randint(1, 3))) for key, codes in REPORT_MARKS.items()})
        return ({"sexo": sex, "grupo_edad": group, "nacionalidad": shares.nationality.draw(rng), "tipo_trata": kind,
                 "nna": "si" if minor else "no", **report}, minor)

    def referral_count(self) -> int:
        """Referrals of an activated case: the calibration's average per case over all cases, once the
        emergency and child-protection referrals made before the decision are counted."""
        shares = self.world.shares
        before = EMERGENCY_BEFORE_DECISION_SHARE + shares.minor
        mean = max(1.0, (shares.referrals_per_case - before) / shares.activated)
        return self.rng.randint(1, round(2 * mean) - 1)

    def receiver(self, service: str) -> Actor:
        nodes = self.world.offering.get(service) or self.world.national_nodes
        return Actor("gestor", self.rng.choice(nodes))

    def referral(self, kind: str, service: str, sender: Actor, receiver: Actor, created: int) -> ReferralLife:
        rng = self.rng
        answered = created + (self.days(0.15) if kind == "emergencia" else self.days(1.2, 0.02))
        outcome = REFERRAL_OUTCOME.draw(rng)
        ended, done, reason = None, False, None
        if outcome == "aceptada":
            ended = answered + self.days(40, 5)
            done = rng.random() < DONE_SHARE
            reason = None if done else rng.choice(NOT_DONE)
        elif outcome == "rechazada":
            reason = rng.choice(REFUSALS)
        else:
            reason = "ya_no_necesaria"
        return ReferralLife(uuid.UUID(int=rng.getrandbits(128), version=4), kind, service, sender, receiver, created,
                            answered, outcome, ended, done, reason)

    def referral_state(self, r: ReferralLife) -> tuple[str, int | None, int | None, str | None]:
        """(state, answered_at, ended_at, reason code) as of the build moment."""
        now = self.world.now
        if r.answered > now:
            return "pendiente", None, None, None
        if r.outcome != "aceptada":
            return r.outcome, r.answered, r.answered, r.reason
        if r.ended is None or r.ended > now:
            return "aceptada", r.answered, None, None
        return ("cumplida" if r.done else "no_cumplida"), r.answered, r.ended, r.reason

    def referral_row(self, r: ReferralLife, case_id: uuid.UUID, user_id: int) -> Row:
        state, answered, ended, reason = self.referral_state(r)
        return (r.id, case_id, r.kind, r.service, self.world.relation[r.service], r.sender.node, r.receiver.node, state,
                None, None, None, reason, None, user_id, moment(r.created),
                moment(answered) if answered is not None else None, moment(ended) if ended is not None else None, 1)

    def referral_events(self, r: ReferralLife) -> list[Event]:
        now, subject = self.world.now, str(r.id)
        found: list[Event] = [(r.created, f"referral.{r.kind}.enviar", r.sender.role, r.sender.node, subject,
                               {"machine": r.kind, "to": "pendiente"})]
        if r.answered <= now:
            key = {"aceptada": "aceptar", "rechazada": "rechazar", "revocada": "revocar"}[r.outcome]
            actor = r.sender if r.outcome == "revocada" else r.receiver
            found.append((r.answered, f"referral.{r.kind}.{key}", actor.role, actor.node, subject,
                          {"machine": r.kind, "from": "pendiente", "to": r.outcome}))
        if r.ended is not None and r.ended <= now:
            target = "cumplida" if r.done else "no_cumplida"
            found.append((r.ended, f"referral.{r.kind}.{'cumplir' if r.done else 'no_cumplir'}", r.receiver.role,
                          r.receiver.node, subject, {"machine": r.kind, "from": "aceptada", "to": target}))
        return found

    def residence(self, activated: int, closed: int, lead: Actor) -> list[Step]:
        rng = self.rng
        migration = Actor("migraciones", self.world.migration)
        started = activated + self.days(20, 3)
        if started >= closed:
            return []
        steps = [Step(started, "iniciar_residencia", None, "preparando", lead, "residencia")]
        submitted = started + self.days(15, 3)
        if submitted >= closed:
            return steps
        processing = submitted + self.days(20)
        decided = processing + self.days(100, 20)
        granted = rng.random() < 0.8
        steps += [Step(submitted, "presentar_residencia", "preparando", "presentada", lead, "residencia"),
                  Step(processing, "registrar_tramite", "presentada", "en_tramite", migration, "residencia"),
                  Step(decided, "otorgar_residencia" if granted else "rechazar_residencia", "en_tramite",
                       "otorgada" if granted else "rechazada", migration, "residencia")]
        if granted and rng.random() < PERMANENT_SHARE:
            steps.append(Step(decided + self.days(200, 300), "otorgar_definitiva", "otorgada", "definitiva", migration,
                              "residencia"))
        return steps

    def clock(self, case_id: uuid.UUID, key: str, started: int, duration: int, stop: int | None,
              closed: int | None, period: int = 1, subject: str = "") -> list[Row]:
        """One period of a clock as of the build moment: stopped by its event, by the case closing, or running
        (overdue when its deadline has passed)."""
        now = self.world.now
        if started > now:
            return []
        due = started + duration
        reason = "stop_event"
        if stop is None or stop > now or (closed is not None and closed < stop):
            stop, reason = (closed, "case_closed") if closed is not None and closed >= started else (None, "")
        if stop is not None:
            late = stop > due
            return [(case_id, key, subject, period, STOPPED, moment(started), moment(due), None, 2 if late else 1,
                     1 if late else 0, moment(due) if late else None, moment(stop), reason, None)]
        late = due <= now
        return [(case_id, key, subject, period, RUNNING, moment(started), moment(due), None if late else moment(due),
                 2 if late else 1, 1 if late else 0, moment(due) if late else None, None, None, None)]


# -- the load ------------------------------------------------------------------------------------------------


class Writer:
    """Batches of rows into the database: psycopg's COPY on PostgreSQL, executemany on SQLite; one transaction
    per batch."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.postgresql = engine.dialect.name == "postgresql"
        tables = Base.metadata.tables
        self.json = {name: tuple(i for i, column in enumerate(columns)
                                 if isinstance(tables[name].c[column].type, JSON))
                     for name, columns in COLUMNS.items()}

    def write(self, batch: dict[str, list[Row]]) -> None:
        with self.engine.begin() as connection:
            for name, rows in batch.items():
                if not rows:
                    continue
                columns = COLUMNS[name]
                if not self.postgresql:
                    connection.execute(insert(Base.metadata.tables[name]), [dict(zip(columns, row, strict=True))
                                                                            for row in rows])
                    continue
                positions = self.json[name]
                dumps = json.dumps
                with connection.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
                    with cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in rows:
                            values = list(row)
                            for i in positions:  # JSON columns as their text
                                values[i] = dumps(values[i])
                            copy.write_row(values)


class Chain:
    """The audit log in the making: events of every case merged in time order, numbered and hash-chained as
    `record()` does. Only cases with events still to come are held in memory."""

    def __init__(self) -> None:
        self.heap: list[tuple[int, int, int]] = []  # (at, case index, position of the event in its case)
        self.cases: dict[int, tuple[str, list[Event]]] = {}
        self.seq = 0
        self.head = GENESIS

    def add(self, index: int, pseudonym: str, events: list[Event]) -> None:
        self.cases[index] = (pseudonym, events)
        heapq.heappush(self.heap, (events[0][0], index, 0))

    def until(self, limit: int, out: list[Row]) -> None:
        """Number and chain every event before `limit` (all of them for a limit past the last)."""
        heap, cases = self.heap, self.cases
        seq, head = self.seq, self.head
        while heap and heap[0][0] < limit:
            _, index, position = heap[0]
            pseudonym, events = cases[index]
            at, action, role, node, subject, details = events[position]
            seq += 1
            when = moment(at)
            digest = link(head, canonical(seq, when, action, role, node, pseudonym, subject, details))
            out.append((seq, when, action, role, node, pseudonym, subject, details, head, digest))
            head = digest
            if position + 1 < len(events):
                heapq.heapreplace(heap, (events[position + 1][0], index, position + 1))
            else:
                heapq.heappop(heap)
                del cases[index]
        self.seq, self.head = seq, head


def _load(engine: Engine, world: World, cases: int, events_per_case: int, progress: Progress) -> Loaded:
    rng = random.Random(SEED)
    simulator = Simulator(world, rng)
    start = micros(START)
    detections = sorted(rng.randint(start, world.now - HOUR) for _ in range(cases))
    writer = Writer(engine)
    chain = Chain()
    began = time.perf_counter()
    reported = 0
    for first in range(0, cases, CASES_PER_BATCH):
        batch: dict[str, list[Row]] = {table: [] for table in COLUMNS}
        for index in range(first, min(cases, first + CASES_PER_BATCH)):
            chain.until(detections[index], batch["audit_events"])  # events before this case's Ficha
            built = simulator.case(index, detections[index])
            if len(built.events) != events_per_case:
                raise RuntimeError(f"case {index}: {len(built.events)} events")
            for table, rows in built.rows.items():
                batch[table] += rows
            chain.add(index, built.pseudonym, built.events)
        if first + CASES_PER_BATCH >= cases:
            chain.until(world.now + DAY, batch["audit_events"])  # the rest
        writer.write(batch)
        done = min(cases, first + CASES_PER_BATCH)
        if done - reported >= max(cases // 10, CASES_PER_BATCH) or done == cases:
            reported = done
            progress(f"  {done:,}/{cases:,} cases, {chain.seq:,} events chained and written, "
                     f"{len(chain.cases):,} cases with events to come ({time.perf_counter() - began:.0f} s)")
    if chain.cases:
        raise RuntimeError(f"{len(chain.cases)} cases still have events to write")
    with engine.begin() as connection:
        connection.execute(update(AuditHead).where(AuditHead.id == HEAD_ID).values(seq=chain.seq, hash=chain.head))
    return Loaded(cases, chain.seq, chain.seq)


# -- verify -------------------------------------------------------------------------------------------------------


def _short(n: int) -> str:
    """4000000 -> 4m, 80000 -> 80k: the size in a metric's name."""
    for unit, scale in (("m", 1_000_000), ("k", 1_000)):
        if n >= scale and n % scale == 0:
            return f"{n // scale}{unit}"
    return str(n)


def _verify(app: Flask, url: str, folder: Path, events: int, size: Size, progress: Progress) -> Metrics:
    environment = cli_environment(url, folder / "instance")
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]

    def command(arguments: list[str]) -> str:
        answer = subprocess.run([*flask, *arguments], cwd=ROOT, env=environment, capture_output=True, text=True,
                                timeout=CLI_TIMEOUT_S, check=False)
        if answer.returncode != 0:
            raise RuntimeError(f"`flask {' '.join(arguments)}` exited {answer.returncode}: "
                               f"{(answer.stderr or answer.stdout).strip()[-2000:]}")
        return answer.stdout

    def cli(workers: int | None) -> Callable[[int], None]:
        arguments = ["audit", "verify"] + ([] if workers is None else ["--workers", str(workers)])

        def once(_: int) -> None:
            output = command(arguments)
            found = VERIFIED.search(output)
            if found is None or int(found.group(1)) != events:
                raise RuntimeError(f"`flask {' '.join(arguments)}` did not report {events} events checked: "
                                   f"{output.strip()}")
        return once

    def in_process(_: int) -> None:
        session = database.factory(app)()
        try:
            count, broken = verify_log(session)
        finally:
            session.close()
        if broken is not None or count != events:
            raise RuntimeError(f"verify_log: {count} events checked, broken: {broken}")

    def startup(_: int) -> None:
        command(["audit", "--help"])

    workers = default_workers()
    progress(f"  verifying {events:,} events: `flask --app wsgi audit verify` (subprocess) with its default "
             f"{workers} workers and with --workers 1, verify_log in process (one walk), and start-up alone; "
             f"{size.verify_warmup} untimed (not the CLI) + {size.verify_repetitions} each; "
             f"load average {load_average()}")
    # The untimed runs warm what a CLI run could find warm: the database's and the system's caches (the
    # in-process check reads every event) and the interpreter's files (start-up). A CLI run starts afresh
    # anyway, so it gets no warm-up of its own: at 4 million events that would add minutes and nothing else.
    for round_ in range(size.verify_warmup):
        in_process(-1 - round_)
        startup(-1 - round_)
    samples = interleaved({"parallel": cli(None), "single": cli(1), "inprocess": in_process, "startup": startup},
                          size.verify_repetitions, 0)
    parallel_s, single_s, inprocess_s, startup_s = (
        median(samples[key]) / 1000 for key in ("parallel", "single", "inprocess", "startup"))
    progress(f"  verify: CLI with {workers} workers {parallel_s:.2f} s (samples "
             f"{', '.join(f'{s / 1000:.2f}' for s in samples['parallel'])}), with 1 worker {single_s:.2f} s "
             f"(samples {', '.join(f'{s / 1000:.2f}' for s in samples['single'])}), in process {inprocess_s:.2f} s, "
             f"start-up {startup_s:.2f} s; target <= 30 s at 4m events; load average {load_average()}")
    return {f"verify_{_short(events)}_events_s": round(parallel_s, 2), "verify_parallel_s": round(parallel_s, 2),
            "verify_single_s": round(single_s, 2), "verify_workers_count": workers,
            "verify_speedup_ratio": round(single_s / parallel_s, 3), "verify_inprocess_s": round(inprocess_s, 2),
            "cli_startup_s": round(startup_s, 2), "verify_vs_inprocess_ratio": round(single_s / inprocess_s, 3)}


# -- the pages -------------------------------------------------------------------------------------------------


def _pages(app: Flask, size: Size, progress: Progress) -> Metrics:
    engine = database.engine(app)
    client = logged_in(app, AUDITOR)
    report_url = REPORT_URL.format(year=dt.datetime.now(dt.UTC).year)
    pages = {"statistics": STATISTICS_URL, "dashboard": DASHBOARD_URL, "annual_report": report_url}

    first_table = app.extensions["referral.protocol"].definition.statistics.report.tables[0].title.get("es")

    def get(url: str) -> Callable[[int], None]:
        def once(_: int) -> None:
            answer = client.get(url)
            if answer.status_code != 200:
                raise RuntimeError(f"GET {url} as {AUDITOR}: status {answer.status_code}")
            if url == report_url and first_table not in answer.text:  # its tables, not «too few cases»
                raise RuntimeError(f"GET {url}: the annual report shows no table")
        return once

    def count(_: int) -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT count(*) FROM case_stats")).scalar_one()

    metrics: Metrics = {}
    for key, url in pages.items():  # one request each, its SQL recorded (also the first, cold request)
        request = get(url)
        with captured_sql(engine) as statements:
            elapsed = timed_ms(lambda: request(0))  # noqa: B023 (called at once)
        sql_ms = sum(s.ms for s in statements)
        metrics[f"{key}_sql_ms"] = round(sql_ms, 1)
        metrics[f"{key}_queries_count"] = len(statements)
        progress(f"  {url}: first request {elapsed:.0f} ms, {len(statements)} statements, {sql_ms:.0f} ms in SQL; "
                 "slowest:")
        for statement in sorted(statements, key=lambda s: -s.ms)[:3]:
            progress(f"    {statement.ms:8.1f} ms  {' '.join(statement.sql.split())[:220]}")
    progress(f"  timing the pages and the count baseline: {size.page_warmup} untimed rounds, "
             f"{size.page_repetitions} timed; load average {load_average()}")
    samples = interleaved({"statistics": get(STATISTICS_URL), "dashboard": get(DASHBOARD_URL),
                           "annual_report": get(report_url), "count": count},
                          size.page_repetitions, size.page_warmup)
    statistics_ms, dashboard_ms, report_ms, count_ms = (median(samples[key]) for key in (
        "statistics", "dashboard", "annual_report", "count"))
    progress(f"  statistics page {statistics_ms:.0f} ms, dashboard {dashboard_ms:.0f} ms (targets < 1000 ms), "
             f"annual report {report_ms:.0f} ms (target < 2000 ms); SELECT count(*) FROM case_stats {count_ms:.1f} ms")
    metrics.update({
        "statistics_page_s": round(statistics_ms / 1000, 3), "dashboard_s": round(dashboard_ms / 1000, 3),
        "annual_report_s": round(report_ms / 1000, 3), "annual_report_vs_count_ratio": round(report_ms / count_ms, 1),
        "count_cases_ms": round(count_ms, 2), "statistics_vs_count_ratio": round(statistics_ms / count_ms, 1),
        "dashboard_vs_count_ratio": round(dashboard_ms / count_ms, 1),
    })
    return metrics

