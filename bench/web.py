"""Pages under load: the application behind gunicorn on PostgreSQL, driven by wrk as several users of several nodes,
against the same pages with the plaintext stand-in for the vault.

`python bench/run.py web` builds a throw-away PostgreSQL database with `flask demo scale --cases N` (100,000 cases;
10,000 with --quick): real encryption, real key wraps, the demo network grown to a national one. It then builds a
second one of the same size and seed with `bench.plain.PlainVault` in place of the vault (`python -m
bench.plain_wsgi`: the same steps as `flask demo scale`, the cryptography left out), checks that every sealed cell
of it is the stand-in's (and none of a sample of the first), and starts gunicorn for each as the README's
production section does (`gunicorn -c gunicorn.conf.py wsgi:app` when that file exists, and
`bench.plain_wsgi:app`; 2 workers each). It signs in to each over HTTP (password and second factor, as a person
would; the plaintext build keeps the demo authenticators' secrets unwrapped, and the in-process app that reads
the codes has the stand-in too) as:

- the focal-point coordinators of several regions (the triage inbox `/bandeja/triaje`, page 1);
- a case worker of each of several lead nodes, each with the cases her node leads (the case page `/casos/<ref>`);
- the intake users of the Metropolitana region (a Ficha filed with POST `/fichas/nueva`, each with a fresh
  intake token, so each request files a new case);

and drives each page with wrk (Debian's package: `apt-get install wrk`), `WRK_THREADS` threads and `CLIENTS`
connections for `DURATION` seconds after a short warm-up, the requests cycling over those users and cases. The
floor is a signed-in request that only redirects (GET `/ingresar`: 302 to the user's start page): what the
stack costs before any page's work, measured in the same run. Every answer's status is checked (200 for pages,
302 for the floor, 303 for a Ficha filed): a page that answered a redirect to the sign-in page would count as
`*_wrong_count`, and the benchmark fails if any answer is wrong, so a fast figure cannot come from an error page.

The case page, the inbox and the Ficha POST are driven against both stacks one after the other, alternating which
goes first (case page: encrypted then plain; inbox: plain then encrypted; Ficha: encrypted then plain), so that
drift of a shared machine falls on both alike; both gunicorns run throughout, the one not driven idle. The same
users are driven on both, and the same cases: a case reference is random, so the plaintext database's case is
found by the order the seeded build wrote it in, and each pair is checked to be the same person on the same
path through the Protocol (`_same_cast`); the benchmark stops otherwise.

Metrics: `<page>_rps` (requests per second), `<page>_p50_ms`, `<page>_p95_ms`, `<page>_p99_ms` for
`floor`, `case_page`, `inbox` and `ficha_post`; `<page>_plain_rps`, `<page>_plain_p50_ms` ... the same on the
plaintext stack (not the floor); `<page>_encryption_ratio` = plain req/s ÷ encrypted req/s (time per request
encrypted ÷ plain); `<page>_ratio` = the page's req/s over the floor's; `build_s`, `build_plain_s` (the two
builds); `plain_cells_checked_count`, `paired_cases_count`. Targets (issue 17): case page and inbox ≥ 200 req/s
with 2 workers on 2 cores, p95 < 50 ms at 4 concurrent clients, and an encryption ratio ≤ 1.1 on both. Needs
PostgreSQL (`BENCH_POSTGRES_URL`) and wrk; it fails without them.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import re
import shutil
import statistics
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from referral import create_app
from referral.auth.models import User
from referral.kernel.models import Case, CaseEvent, FormRecord, Participant
from referral.clocks.models import CaseClock
from referral.db import Base, utcnow
from referral.demo.network import DEMO_PASSWORD
from referral.extensions import database
from referral.kernel.keystore import system_cipher
from referral.kernel.referral_models import Referral
from referral.units import unit_of_work
from referral.vault import Cell
from tests.browser import complete_sign_in, hidden_inputs
from tests.factories import ficha_post

from .plain import is_plain_cell, plain_app
from .support import (
    DOMAIN,
    INTAKE_USERS,
    PG_ADMIN_URL, Metrics, Progress, cli_environment, postgres_database, postgres_reachable, refresh_statistics,
    settings,
)

ROOT = Path(__file__).resolve().parents[1]
WORKERS = 2
CLIENTS = 4  # concurrent connections
WRK_THREADS = 2
LEADS = 6  # lead nodes whose case workers open case pages
CASES_PER_LEAD = 40
COORDINATORS = 6  # regions whose focal point opens the triage inbox
SEED = 2026

VARIANTS = ("encrypted", "plain")
COMPARED = ("case_page", "inbox", "ficha_post")  # the pages driven against the plaintext stand-in too
# How each database is built: the product's command, and the same steps in a bench-only module with PlainVault.
BUILDS = {"encrypted": (["flask", "--app", "wsgi", "demo", "scale"], "`flask demo scale`"),
          "plain": (["bench.plain_wsgi"], "`python -m bench.plain_wsgi` (PlainVault)")}
APPLICATIONS = {"encrypted": "wsgi:app", "plain": "bench.plain_wsgi:app"}  # what gunicorn serves
# Sealed cells checked: every one in the plaintext database must be the stand-in's, none of a sample in the other.
SEALED = (("cases", "summary"), ("form_records", "data"), ("referrals", "details"))


@dataclass(frozen=True)
class Size:
    cases: int
    duration_s: int
    warmup_s: int
    pairs: int = 0  # more encrypted/plain pairs of each compared page, for the encryption ratio's median
    pair_s: int = 0  # each run of such a pair (after a warm-up of pair_warmup_s)
    pair_warmup_s: int = 0


FULL = Size(cases=100_000, duration_s=20, warmup_s=5, pairs=4, pair_s=8, pair_warmup_s=2)
QUICK = Size(cases=10_000, duration_s=5, warmup_s=3, pairs=1, pair_s=2, pair_warmup_s=1)


def run(quick: bool, progress: Progress) -> Metrics:
    size = QUICK if quick else FULL
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk): the web benchmark drives gunicorn with it")
    if not postgres_reachable():
        raise RuntimeError(f"PostgreSQL does not answer at {PG_ADMIN_URL} (BENCH_POSTGRES_URL): the web benchmark "
                           "measures on PostgreSQL")
    metrics: Metrics = {"cases_count": size.cases, "workers_count": WORKERS, "clients_count": CLIENTS}
    with tempfile.TemporaryDirectory(prefix="bench-web-") as temporary, \
            postgres_database(progress, "referral_bench_web") as url, \
            postgres_database(progress, "referral_bench_web_plain") as plain_url:
        folder = Path(temporary)
        urls = {"encrypted": url, "plain": plain_url}
        instances = {variant: folder / f"instance-{variant}" for variant in VARIANTS}
        environments = {variant: cli_environment(urls[variant], instances[variant]) for variant in VARIANTS}
        for variant in VARIANTS:
            began = time.perf_counter()
            progress(f"building {size.cases} cases with {BUILDS[variant][1]} (PostgreSQL, {variant})")
            _command([*BUILDS[variant][0], "--cases", str(size.cases), "--seed", str(SEED)], environments[variant],
                     progress)
            metrics[_named("build", variant, "s")] = round(time.perf_counter() - began, 1)
        apps = {"encrypted": create_app(_config(instances["encrypted"], url)),
                "plain": plain_app(_config(instances["plain"], plain_url))}
        for app in apps.values():
            refresh_statistics(database.engine(app))
            _checkpoint(database.engine(app))
        metrics["plain_cells_checked_count"] = _check_cells(apps)
        cast = _cast(apps["encrypted"])
        casts = {"encrypted": cast, "plain": _same_cast(apps["plain"], cast, apps["encrypted"])}
        metrics["paired_cases_count"] = sum(len(r) for r in cast.leads.values())
        progress(f"{len(cast.leads)} case workers with {metrics['paired_cases_count']} cases (the same in both "
                 f"databases), {len(cast.coordinators)} coordinators, {len(cast.filers)} intake users")
        with _gunicorn(environments["encrypted"], folder, progress, "encrypted") as port, \
                _gunicorn(environments["plain"], folder, progress, "plain") as plain_port:
            ports = {"encrypted": port, "plain": plain_port}
            scenarios: dict[str, dict[str, Scenario]] = {}
            for variant in VARIANTS:
                sessions = {name: _signed_in(apps[variant], ports[variant], name) for name in casts[variant].everyone()}
                database.engine(apps[variant]).dispose()
                scenarios[variant] = _scenarios(casts[variant], sessions)
            for index, name in enumerate(scenarios["encrypted"]):
                # pages driven against both alternately (encrypted first, then plain first, ...), so that drift of a
                # shared machine falls on both alike; the floor against the encrypted stack only
                order = list(VARIANTS if index % 2 else reversed(VARIANTS)) if name in COMPARED else ["encrypted"]
                for variant in order:
                    progress(f"{name} ({variant}): {len(scenarios[variant][name].requests)} requests to cycle over, "
                             f"{size.duration_s}s at {CLIENTS} clients")
                    figures = _drive(wrk, ports[variant], folder, f"{name}-{variant}", scenarios[variant][name], size,
                                     progress)
                    metrics.update({_named(name, variant, key): value for key, value in figures.items()})
            # The ratio from one pair of 20-second runs moved more with the machine's drift than with encryption
            # (1.30 in one full run, 0.84 in the next): more short pairs, each in the other order, and the median.
            ratios = {name: [metrics[f"{name}_plain_rps"] / metrics[f"{name}_rps"]] for name in COMPARED}
            short = Size(size.cases, size.pair_s, size.pair_warmup_s)
            for pair in range(size.pairs):
                for name in COMPARED:
                    rps = {}
                    for variant in (VARIANTS if pair % 2 else tuple(reversed(VARIANTS))):
                        rps[variant] = _drive(wrk, ports[variant], folder, f"{name}-{variant}-pair{pair}",
                                              scenarios[variant][name], short, progress)["rps"]
                    ratios[name].append(rps["plain"] / rps["encrypted"])
    for name in COMPARED:
        metrics[f"{name}_ratio"] = round(metrics[f"{name}_rps"] / metrics["floor_rps"], 3)
        # time per request encrypted / plain (target <= 1.1 for the case page and the inbox): the median of the pairs
        metrics[f"{name}_encryption_ratio"] = round(statistics.median(ratios[name]), 3)
        metrics[f"{name}_encryption_pairs_count"] = len(ratios[name])
        metrics[f"{name}_encryption_spread_ratio"] = round(max(ratios[name]) - min(ratios[name]), 3)
    return metrics


def _named(name: str, variant: str, unit: str) -> str:
    """`case_page_rps` for the encrypted stack, `case_page_plain_rps` for the plaintext one."""
    return f"{name}_{unit}" if variant == "encrypted" else f"{name}_{variant}_{unit}"


def _config(instance: Path, url: str) -> dict[str, Any]:
    """The in-process app on a bench database (reading the cast, the second factor's codes): its own settings."""
    return {**settings(instance, url, utcnow), "TESTING": False}


def _check_cells(apps: dict[str, Flask]) -> int:
    """The plaintext database holds only the stand-in's cells (cases' summaries, forms, referrals: every one),
    and the encrypted one none in a sample: else the comparison would not be encryption against none. Returns
    how many plaintext cells were checked."""
    checked = 0
    for variant, app in apps.items():
        with database.engine(app).connect() as connection:
            for table, column in SEALED:
                cells = Base.metadata.tables[table].c[column]
                query = select(cells).where(cells.is_not(None))
                if variant == "encrypted":
                    query = query.limit(1000)
                for (blob,) in connection.execution_options(yield_per=5000).execute(query):
                    if is_plain_cell(bytes(blob)) != (variant == "plain"):
                        raise RuntimeError(f"{table}.{column} of the {variant} database holds a cell "
                                           f"{'not ' if variant == 'plain' else ''}in the clear")
                    if variant == "plain":
                        checked += 1
        database.engine(app).dispose()
    return checked


# -- who takes part -------------------------------------------------------------------------------


@dataclass
class Cast:
    leads: dict[str, list[str]] = field(default_factory=dict)  # user name -> references her node leads
    lead_rows: dict[str, list[int]] = field(default_factory=dict)  # the same cases' lead participations (row ids)
    coordinators: list[str] = field(default_factory=list)
    filers: list[str] = field(default_factory=list)

    def everyone(self) -> list[str]:
        return list(dict.fromkeys([*self.leads, *self.coordinators, *self.filers]))


def _name(user: User) -> str:
    return user.email.removesuffix(f"@{DOMAIN}")


def _lead_cases(session: Any) -> dict[int, list[tuple[int, str]]]:
    """Each node's cases as lead node: (the lead participation's row id, the case reference), in row order."""
    rows = session.execute(select(Participant.node_id, Participant.id, Case.reference)
                           .join(Case, Case.id == Participant.case_id)
                           .where(Participant.relation == "nodo_lider", Participant.active)
                           .order_by(Participant.id)).tuples().all()
    by_node: dict[int, list[tuple[int, str]]] = {}
    for node_id, participant_id, reference in rows:
        by_node.setdefault(node_id, []).append((participant_id, reference))
    return by_node


def _cast(app: Flask) -> Cast:
    """Users of several nodes, read from the built database: a case worker at each of the LEADS nodes leading the
    most cases (each with CASES_PER_LEAD of them), the focal-point coordinators of COORDINATORS regions, and the
    Metropolitana region's intake users."""
    cast = Cast()
    session = database.factory(app)()
    try:
        roles = app.extensions["referral.protocol"].definition.roles_with("case_access")
        by_node = _lead_cases(session)
        rng = random.Random(SEED)
        for node_id in sorted(by_node, key=lambda n: (-len(by_node[n]), n))[:LEADS]:
            user = session.scalars(select(User).where(User.node_id == node_id, User.active, User.role.in_(roles))
                                   .order_by(User.id)).first()
            if user is not None:
                picked = rng.sample(by_node[node_id], min(CASES_PER_LEAD, len(by_node[node_id])))
                cast.leads[_name(user)] = [reference for _, reference in picked]
                cast.lead_rows[_name(user)] = [participant_id for participant_id, _ in picked]
        names = [_name(u) for u in session.scalars(select(User).where(User.email.like(f"coordinador.%@{DOMAIN}"),
                                                                    User.active).order_by(User.email))]
        cast.coordinators = names[:COORDINATORS]
        cast.filers = [name for name in INTAKE_USERS["CL-RM"] if name != "ong"]
    finally:
        session.close()
    if not cast.leads or not cast.coordinators:
        raise RuntimeError("the built database has no lead node with staff, or no focal-point coordinator")
    return cast


def _portrait(app: Flask, cast: Cast) -> tuple[dict[int, tuple[str, tuple[Any, ...]]], dict[str, tuple[Any, ...]]]:
    """What the seed decides and must be alike in the two databases. For each picked lead participation: its case's
    reference, and (lead node, state, region, priority, how many participations, referrals, forms, events and
    clocks, the person's names, sex and nationality as the sealed summary holds them, opened with the app's vault).
    For each user of the cast: (node, role)."""
    wanted = [row for rows in cast.lead_rows.values() for row in rows]
    with unit_of_work(app) as ctx:
        session = ctx.session
        found = session.execute(select(Participant.id, Participant.node_id, Case.id, Case.reference, Case.state,
                                       Case.region_code, Case.priority, Case.key_version, Case.summary)
                                .join(Case, Case.id == Participant.case_id)
                                .where(Participant.id.in_(wanted))).tuples().all()
        case_ids = [row[2] for row in found]
        counts = [dict(session.execute(select(model.case_id, func.count()).where(model.case_id.in_(case_ids))
                                       .group_by(model.case_id)).tuples().all())
                  for model in (Participant, Referral, FormRecord, CaseEvent, CaseClock)]
        cases = {}
        for participant_id, node_id, case_id, reference, state, region, priority, key_version, summary in found:
            person = {} if summary is None else system_cipher(ctx, case_id, key_version).open(
                summary, Cell("cases", "summary", case_id))
            cases[participant_id] = (reference, (
                node_id, state, region, priority, *(count.get(case_id, 0) for count in counts),
                *(person.get(key) for key in ("nombres", "apellidos", "sexo", "nacionalidad"))))
        users = {_name(u): (u.node_id, u.role) for u in session.scalars(
            select(User).where(User.email.in_([f"{name}@{DOMAIN}" for name in cast.everyone()])))}
    return cases, users


def _same_cast(app: Flask, cast: Cast, built_from: Flask) -> Cast:
    """The cast of `_cast(built_from)` in `app`'s database: the same users and the same cases.

    The seed decides each case's person, path through the Protocol (its prototype), region and lead node, and the
    order in which the cases are written, so a case is found by its lead participation's row id, and each pair
    is checked alike (`_portrait`): the benchmark stops if any differs. What the seed does not fix across the
    two builds: a case's reference (random, `new_reference`), and the detecting institution of its region, the
    colleagues standing for the prototype's staff and the shift of its dates (`referral/demo/scale.py` draws
    these in the order the prototype's rows are read, which PostgreSQL does not fix, and cells of another size
    lay the rows out differently): the same kind of case, of the same size, at another date."""
    ours, our_users = _portrait(built_from, cast)
    theirs, their_users = _portrait(app, cast)
    if our_users != their_users or len(our_users) != len(cast.everyone()):
        raise RuntimeError("the two databases' users differ (node or role) or one lacks some: not the same build")
    differ = [row for row in ours if row not in theirs or theirs[row][1] != ours[row][1]]
    if differ or len(ours) != sum(len(rows) for rows in cast.lead_rows.values()):
        raise RuntimeError(f"{len(differ)} of the {len(ours)} cases picked differ between the two databases (lead "
                           "node, state, region, priority, rows, person): the same seed did not build the same cases")
    return Cast(leads={name: [theirs[row][0] for row in rows] for name, rows in cast.lead_rows.items()},
                lead_rows=dict(cast.lead_rows), coordinators=list(cast.coordinators), filers=list(cast.filers))


# -- HTTP as a browser does it --------------------------------------------------------------------


@dataclass
class Answer:
    status_code: int
    headers: dict[str, str]
    text: str


class HttpClient:
    """Just enough of a browser for signing in: cookies kept, redirects not followed (the test client's interface,
    so `tests.browser.complete_sign_in` types the second factor's code here too)."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}

    def _send(self, method: str, url: str, body: str | None = None) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Cookie": self.cookie_header()}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, url, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        answer = Answer(response.status, {k: v for k, v in response.getheaders()}, text)
        connection.close()
        location = answer.headers.get("Location", "")
        if location.startswith("http"):  # the test client's Location is a path: make ours one too
            parts = urllib.parse.urlsplit(location)
            answer.headers["Location"] = parts.path + (f"?{parts.query}" if parts.query else "")
        return answer

    def get(self, url: str) -> Answer:
        return self._send("GET", url)

    def post(self, url: str, data: dict[str, Any]) -> Answer:
        return self._send("POST", url, urllib.parse.urlencode(data, doseq=True))

    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())


@dataclass(frozen=True)
class Session:
    cookie: str
    csrf: str


def _signed_in(app: Flask, port: int, name: str) -> Session:
    client = HttpClient(port)
    email = f"{name}@{DOMAIN}"
    page = client.get("/ingresar")
    answer = client.post("/ingresar", {**hidden_inputs(page.text), "email": email, "password": DEMO_PASSWORD})
    answer = complete_sign_in(app, client, email, answer)  # type: ignore[arg-type]  # our Answer is enough
    if answer.status_code not in (200, 302) or "/ingresar" in answer.headers.get("Location", ""):
        raise RuntimeError(f"signing in as {name} failed ({answer.status_code})")
    home = client.get("/fichas/nueva")
    token = hidden_inputs(home.text).get("csrf_token", "")
    return Session(client.cookie_header(), token)


# -- the scenarios --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    cookie: str
    body: str = ""


@dataclass(frozen=True)
class Scenario:
    expected: int  # the status every answer must have
    requests: list[Request]
    fresh_token: bool = False  # append a unique intake token to each body (each POST files a new case)


def _scenarios(cast: Cast, sessions: dict[str, Session]) -> dict[str, Scenario]:
    everyone = cast.everyone()
    floor = [Request("GET", "/ingresar", sessions[name].cookie) for name in everyone]
    pages = [Request("GET", f"/casos/{reference}", sessions[name].cookie)
             for name, references in cast.leads.items() for reference in references]
    random.Random(SEED).shuffle(pages)  # users and cases interleaved
    inbox = [Request("GET", "/bandeja/triaje", sessions[name].cookie) for name in cast.coordinators]
    fichas = []
    for index, name in enumerate(cast.filers * 4):
        fields = ficha_post(nombres=f"Persona{index}", numero_documento=f"BW{index:07d}")
        fields["csrf_token"] = sessions[name].csrf
        fichas.append(Request("POST", "/fichas/nueva", sessions[name].cookie,
                              urllib.parse.urlencode(fields, doseq=True)))
    return {"floor": Scenario(302, floor), "case_page": Scenario(200, pages), "inbox": Scenario(200, inbox),
            "ficha_post": Scenario(303, fichas, fresh_token=True)}


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for this ASCII-safe text


LUA = r"""
local requests = { %(requests)s }
local expected = %(expected)d
local fresh = %(fresh)s
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  wrong = 0
  seen = 0
  counter = id * 7919
end

function request()
  counter = counter + 1
  local r = requests[(counter %% #requests) + 1]
  local headers = { ["Cookie"] = r[3] }
  local body = nil
  if r[1] == "POST" then
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    body = r[4]
    if fresh then body = body .. "&intake_token=wrk-%(run)s-" .. id .. "-" .. counter end
  end
  return wrk.format(r[1], r[2], headers, body)
end

function response(status, headers, body)
  if status ~= expected then
    wrong = wrong + 1
    seen = status
  end
end

function done(summary, latency, requests)
  local wrong_total = 0
  local seen_status = 0
  for _, thread in ipairs(threads) do
    wrong_total = wrong_total + thread:get("wrong")
    if thread:get("seen") ~= 0 then seen_status = thread:get("seen") end
  end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format('WRK {"requests": %%d, "duration_us": %%d, "wrong": %%d, "seen": %%d, "errors": %%d, ' ..
    '"p50_us": %%d, "p95_us": %%d, "p99_us": %%d}\n', summary.requests, summary.duration, wrong_total,
    seen_status, errors, latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def _script(folder: Path, name: str, scenario: Scenario, run: str) -> Path:
    rows = ", ".join("{" + ", ".join(_lua_string(v) for v in (r.method, r.path, r.cookie, r.body)) + "}"
                     for r in scenario.requests)
    path = folder / f"{name}-{run}.lua"
    path.write_text(LUA % {"requests": rows, "expected": scenario.expected,
                           "fresh": "true" if scenario.fresh_token else "false",
                           "run": f"{name}-{run}"})  # in the intake token: unique across runs of one database
    return path


def _drive(wrk: str, port: int, folder: Path, name: str, scenario: Scenario, size: Size,
           progress: Progress) -> Metrics:
    url = f"http://127.0.0.1:{port}/"
    for phase, seconds in (("warmup", size.warmup_s), ("run", size.duration_s)):
        script = _script(folder, name, scenario, phase)
        done = subprocess.run([wrk, "-t", str(WRK_THREADS), "-c", str(CLIENTS), "-d", f"{seconds}s", "--timeout",
                               "10s", "-s", str(script), url], capture_output=True, text=True, check=False)
        line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRK ")), None)
        if done.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed on {name} ({done.returncode}): {done.stderr[-500:]}")
        found = json.loads(line[4:])
        if found["wrong"] or found["errors"] or (phase == "run" and not found["requests"]):
            raise RuntimeError(f"{name} ({phase}): {found['wrong']} answers were not {scenario.expected} "
                               f"(e.g. {found['seen']}), "
                               f"{found['errors']} socket errors, of {found['requests']} requests")
    rps = found["requests"] / (found["duration_us"] / 1e6)
    figures: Metrics = {"rps": round(rps, 1), "p50_ms": round(found["p50_us"] / 1000, 1),
                        "p95_ms": round(found["p95_us"] / 1000, 1), "p99_ms": round(found["p99_us"] / 1000, 1),
                        "requests_count": found["requests"]}
    progress(f"  {name}: {figures['rps']} req/s, p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, "
             f"p99 {figures['p99_ms']} ms")
    return figures


def _checkpoint(engine: Any) -> None:
    """Write the build's dirty pages out now (CHECKPOINT), not in the middle of the first page's run: after
    100,000 cases a checkpoint stalled requests for a second (the floor's p95 was 1.1 s, 9 ms without it)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("CHECKPOINT")


# -- processes ------------------------------------------------------------------------------------


def _command(arguments: list[str], environment: dict[str, str], progress: Progress) -> None:
    """Run a command of the application, its progress lines passed on; fail with its last lines."""
    process = subprocess.Popen([sys.executable, "-m", *arguments], cwd=ROOT, env=environment, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    tail: list[str] = []
    shown = 0.0
    assert process.stdout is not None
    for line in process.stdout:
        tail = (tail + [line.rstrip()])[-20:]
        if re.search(r"\d+ ?/ ?\d+|cases", line) and (time.monotonic() - shown >= 10 or "loaded" in line):
            progress(f"  {line.rstrip()[-120:]}")  # every 10 s at most, and the last line
            shown = time.monotonic()
    if process.wait() != 0:
        raise RuntimeError(f"{' '.join(arguments)} failed:\n" + "\n".join(tail))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _gunicorn(environment: dict[str, str], folder: Path, progress: Progress, variant: str) -> Iterator[int]:
    """gunicorn serving `APPLICATIONS[variant]` on a free port, as the README's production section runs it."""
    port = _free_port()
    command = [sys.executable, "-m", "gunicorn"]
    if (ROOT / "gunicorn.conf.py").exists():
        command += ["-c", str(ROOT / "gunicorn.conf.py")]
    command += ["--workers", str(WORKERS), "--bind", f"127.0.0.1:{port}", "--access-logfile", "-"
                if os.environ.get("BENCH_WEB_ACCESS_LOG") else "/dev/null", APPLICATIONS[variant]]
    log_path = folder / f"gunicorn-{variant}.log"
    log = log_path.open("w")
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn ({variant}) stopped:\n" + log_path.read_text()[-2000:])
            with contextlib.suppress(OSError):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/ingresar")
                if connection.getresponse().status == 200:
                    break
            time.sleep(0.3)
        else:
            raise RuntimeError(f"gunicorn ({variant}) did not answer within 60 s")
        progress(f"gunicorn ({variant}, {APPLICATIONS[variant]}): {WORKERS} workers on port {port}")
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
