"""`flask demo scale --cases N`: a national-scale database in minutes, with real encryption and real wraps.

A handful of prototype cases (one per path through the protocol, as the country's demo script keys them:
its `SCALE.prototype_key`) are driven through the real services by the script's `Cases`, so the data is what
the product writes. Each prototype is then cloned into many cases with bulk inserts (SQLAlchemy Core, batches):

- a new case id, reference and intake token; a fresh random case key; every sealed cell opened with the
  prototype's key, given the clone's person (names, document, phone, sex, date of birth or age,
  nationality), nodes, region and dates, and sealed again under the clone's key for the clone's row;
- the key wraps re-made (HPKE) for the clone's nodes with their current node keys, as `sync_wraps` does;
- nodes of the prototype's region replaced by the same institution in the clone's region (the lead node,
  child protection, health...), users by colleagues of the same role in that node; the detecting node, when it
  has no other part in the case, by a detecting institution of the clone's region;
- participants, referrals, clocks, notes, meetings, timeline and statistics shifted in time; blind indexes,
  links and the audit pseudonym recomputed; the audit events re-chained in order and bulk-inserted.

People and end stages are drawn by the script (`SCALE.draw`; the stages follow `SCALE.stage_shares`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import random
import re
import secrets
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import Connection, LargeBinary, Table, func, insert, select, text, update
from sqlalchemy.orm import Session

from ..audit.chain import canonical, link
from ..audit.models import GENESIS, AuditEvent, AuditHead
from ..audit.service import HEAD_ID, pseudonym_key
from ..auth.models import User
from ..cases.duplicates import digests
from ..cases.intake import new_reference
from ..cases.links import link_digest
from ..kernel.models import Case
from ..cases.worklists import rebuild as rebuild_worklists
from ..context import Context
from ..db import Base
from ..extensions import database
from ..kernel.key_models import NodeKey
from ..kernel.keystore import current_node_key, system_cipher
from ..models import import_all
from ..network.models import Node
from ..stats.disclosure import new_record_key
from ..vault import CaseCipher, Cell
from .country import ScaleScript, country_folder, load_script
from .network import DemoNetwork, clear_all, load_network
from .people import Person

TARGET_NODES = 400
USERS_PER_NODE = 7
BATCH = 250
# Tables handled by hand rather than by the generic copy.
SPECIAL = {"case_key_wraps", "blind_indexes", "case_links"}
# Integer columns that point at integer-keyed rows of the same case.
INT_REFS = {"clock_id": "case_clocks", "participant_id": "case_participants"}
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")

Key = tuple[Any, ...]  # the script's prototype key: one path through the protocol


def allocate(cases: int, shares: Mapping[str, float]) -> dict[str, int]:
    """How many cases end at each stage (largest remainders, so the counts add up to `cases`)."""
    raw = {stage: cases * share for stage, share in shares.items()}
    counts = {stage: int(value) for stage, value in raw.items()}
    rest = cases - sum(counts.values())
    for stage in sorted(raw, key=lambda s: raw[s] - counts[s], reverse=True)[:rest]:
        counts[stage] += 1
    return counts


@dataclass
class Prototype:
    stage: str
    case_id: uuid.UUID
    region: str
    person: Person
    cipher: CaseCipher
    rows: dict[str, list[dict[str, Any]]]
    plain: dict[tuple[str, str, Any], Any]  # (table, column, row id) -> opened value
    audit: list[dict[str, Any]]
    wrap_nodes: list[int]
    links: list[str]
    free_detecting: bool  # the detecting node has no other part in the case: it may be any detecting node
    state: str = ""


@dataclass
class Directory:
    nodes: dict[int, Node]
    by_code: dict[str, int]
    users: dict[tuple[int, str], list[int]]  # (node, role) -> user ids
    user_node_role: dict[int, tuple[int, str]]
    detecting: dict[str, list[int]]  # region -> detecting nodes
    keys: dict[int, tuple[int, int, bytes]] = field(default_factory=dict)  # node -> (key id, version, public)


class Progress:
    def __init__(self, total: int, out: Callable[[str], None]):
        self.total, self.out, self.started = total, out, time.monotonic()

    def __call__(self, done: int) -> None:
        elapsed = time.monotonic() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else 0.0
        self.out(f"  {done}/{self.total} cases, {rate:.0f} cases/s, ETA {eta:.0f} s")


def stderr_line(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


# -- the network at scale -------------------------------------------------------------------------------


def grow_network(connection: Connection, network: DemoNetwork, rng: random.Random, password_hash: str,
                 script: ScaleScript, domain: str) -> None:
    """Local detecting institutions (of the template node's kind) in every region up to TARGET_NODES nodes, and
    ~USERS_PER_NODE staff per node (one shared password hash: hashing thousands would take minutes)."""
    nodes_table, users_table = Base.metadata.tables["nodes"], Base.metadata.tables["users"]
    template = network.node(script.local_template)
    regions = [r.code for r in network.regions]
    missing = max(0, TARGET_NODES - len(network.nodes))
    rows = []
    for index in range(missing):
        region = regions[index % len(regions)]
        number = index // len(regions) + 1
        rows.append({"code": f"ONG-{region}-{number:02d}", "short_name": f"ONG local {number} {region.split('-', 1)[-1]}",
                     "name": f"Organización comunitaria {number} ({region})", "org_type": template.org_type,
                     "level": "local", "home_region": region, "services": list(template.services), "active": True,
                     "contact_email": f"contacto.ong-{region.lower()}-{number:02d}@{domain}"})
    if rows:
        connection.execute(insert(nodes_table), rows)
        codes = [r["code"] for r in rows]
        ids = dict(connection.execute(select(nodes_table.c.code, nodes_table.c.id)
                                      .where(nodes_table.c.code.in_(codes))).all())
        connection.execute(insert(Base.metadata.tables["node_regions"]),
                           [{"node_id": ids[r["code"]], "region_code": r["home_region"]} for r in rows])
    all_nodes = connection.execute(select(nodes_table.c.id, nodes_table.c.code)).all()
    codes = {node.id: node.code for node in network.nodes.values()}
    family_roles: dict[str, set[str]] = defaultdict(set)
    for user in network.users.values():
        if user.role not in script.unstaffed_roles:
            family_roles[_family(codes[user.node_id], regions)].add(user.role)
    staff = []
    for node_id, code in all_nodes:
        roles = sorted(family_roles[_family(code, regions)] | set(script.staff_roles))
        for number in range(USERS_PER_NODE):
            role = roles[number % len(roles)]
            staff.append({"email": f"{role}.{number + 1}.{code.lower()}@{domain}", "password_hash": password_hash,
                          "display_name": f"Equipo {code} {number + 1}", "role": role, "node_id": node_id,
                          "active": True, "manages_node": False})
    for start in range(0, len(staff), 1000):
        connection.execute(insert(users_table), staff[start:start + 1000])


def _family(code: str, regions: list[str]) -> str:
    """An office's institution: its code without the region's (offices of one institution share it)."""
    return next((code.removesuffix(f"-{region}") for region in regions if code.endswith(f"-{region}")), code)


def directory(ctx: Context, script: ScaleScript) -> Directory:
    nodes = {n.id: n for n in ctx.session.scalars(select(Node))}
    users: dict[tuple[int, str], list[int]] = defaultdict(list)
    node_role = {}
    for user_id, node_id, role in ctx.session.execute(select(User.id, User.node_id, User.role).order_by(User.id)):
        users[(node_id, role)].append(user_id)
        node_role[user_id] = (node_id, role)
    detecting: dict[str, list[int]] = defaultdict(list)
    for node in nodes.values():
        if node.home_region and script.detecting(node.code):
            detecting[node.home_region].append(node.id)
    found = Directory(nodes, {n.code: n.id for n in nodes.values()}, users, node_role, detecting)
    for node_id in nodes:  # every node gets its key pair the way the application makes one
        row: NodeKey = current_node_key(ctx, node_id)
        found.keys[node_id] = (row.id, row.version, row.public_key)
    return found


# -- prototypes ---------------------------------------------------------------------------------------------


def case_tables() -> list[Table]:
    import_all()
    # The worklists' rows are derived, not cloned: computed for every case once the clones are in.
    return [t for t in Base.metadata.sorted_tables
            if t.name == "cases" or ("case_id" in t.c and t.name != "worklist_entries")]


def sealed_columns(table: Table) -> list[str]:
    if table.name in SPECIAL or table.name == "case_keys":
        return []
    return [c.name for c in table.c if isinstance(c.type, LargeBinary)]


def read_prototype(ctx: Context, case: Case, stage: str, person: Person) -> Prototype:
    connection = ctx.session.connection()
    rows: dict[str, list[dict[str, Any]]] = {}
    for table in case_tables():
        column = table.c.id if table.name == "cases" else table.c.case_id
        rows[table.name] = [dict(r._mapping) for r in connection.execute(  # in key order: the same draws each run
            select(table).where(column == case.id).order_by(*table.primary_key.columns))]
    cipher = system_cipher(ctx, case.id, case.key_version)
    plain = {}
    for table in case_tables():
        for name in sealed_columns(table):
            for row in rows[table.name]:
                if row[name] is not None:
                    plain[(table.name, name, row["id"])] = cipher.open(row[name], Cell(table.name, name, row["id"]))
    pseudonym = hmac.new(pseudonym_key(ctx), case.id.bytes, hashlib.sha256).hexdigest()[:24]
    audit = [dict(r._mapping) for r in connection.execute(
        select(AuditEvent.__table__).where(AuditEvent.case_pseudonym == pseudonym).order_by(AuditEvent.seq))]
    detecting_relations = {p["relation"] for p in rows["case_participants"] if p["node_id"] == case.detecting_node_id}
    other_roles = any(p["node_id"] == case.detecting_node_id for p in rows["case_participants"]) and len(
        detecting_relations) > 1
    referenced = any(r["to_node_id"] == case.detecting_node_id for r in rows["referrals"])
    return Prototype(stage=stage, case_id=case.id, region=case.region_code, person=person, cipher=cipher,
                     rows=rows, plain=plain, audit=audit, state=case.state,
                     wrap_nodes=sorted({w["node_id"] for w in rows["case_key_wraps"]}),
                     links=[r["kind"] for r in rows["case_links"]],
                     free_detecting=not other_roles and not referenced)


# -- cloning ------------------------------------------------------------------------------------------------


class Cloner:
    def __init__(self, ctx: Context, found: Directory, rng: random.Random, ids: dict[str, int], script: ScaleScript):
        self.ctx, self.found, self.rng, self.ids, self.script = ctx, found, rng, ids, script
        self.users_seed = rng.getrandbits(32)  # each clone's colleagues drawn from (this, serial, user): any order
        self.definition = ctx.definition
        self.pseudonym_key = pseudonym_key(ctx)
        self.references: set[str] = set()
        self._regional: dict[tuple[str, str], dict[int, int]] = {}
        self._column_kinds: dict[str, tuple[list[str], frozenset[str]]] = {}

    def _next_id(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    def _reference(self) -> str:
        while True:
            reference = new_reference()
            if reference not in self.references:
                self.references.add(reference)
                return reference

    def _node_map(self, proto: Prototype, region: str) -> dict[int, int]:
        """The same institution in the clone's region for every node of the prototype's region."""
        regional = self._regional.get((proto.region, region))
        if regional is None:
            regional = self._regional[(proto.region, region)] = {}
            for node_id, node in self.found.nodes.items():
                if node.code.endswith(proto.region) and proto.region != region:
                    other = self.found.by_code.get(node.code[: -len(proto.region)] + region)
                    if other is not None:
                        regional[node_id] = other
        mapping = dict(regional)
        detecting = proto.rows["cases"][0]["detecting_node_id"]
        pool = self.found.detecting.get(region)
        if proto.free_detecting and pool:
            mapping[detecting] = self.rng.choice(pool)
        return mapping

    def clone(self, proto: Prototype, person: Person, serial: int, out: dict[str, list[dict[str, Any]]],
              audit_out: list[dict[str, Any]]) -> None:
        rng = self.rng
        region = person.region
        nodes = self._node_map(proto, region)
        users: dict[int, int] = {}

        def user(old: int) -> int:
            """A colleague of the same role in the node the prototype's user's node maps to."""
            if old not in users:
                node_id, role = self.found.user_node_role.get(old, (0, ""))
                choices = self.found.users.get((nodes.get(node_id, node_id), role))
                # Not from the shared stream: the prototype's rows may come in another order in another build
                # (the same seed must give the same people and colleagues, e.g. bench web's plaintext twin).
                draw = random.Random(self.users_seed ^ (serial << 24) ^ old)
                users[old] = draw.choice(choices) if choices else old
            return users[old]
        most = self.script.max_shift_days[proto.stage]
        shift = dt.timedelta(days=-rng.uniform(0, most) if most else -rng.uniform(0, 0.5))
        days = dt.timedelta(days=shift.days)
        case_id = uuid.uuid4()
        uuids: dict[Any, Any] = {proto.case_id: case_id}
        ints: dict[tuple[str, int], int] = {}
        for table, rows in proto.rows.items():
            for row in rows:
                if isinstance(row.get("id"), uuid.UUID) and row["id"] not in uuids:
                    uuids[row["id"]] = uuid.uuid4()
                elif isinstance(row.get("id"), int) and table not in SPECIAL:
                    ints[(table, row["id"])] = self._next_id(table)
        strings: dict[str, str] = {}
        for old, new in uuids.items():
            strings[str(old)], strings[old.hex] = str(new), new.hex
        for old_node, new_node in nodes.items():
            strings[str(old_node)] = str(new_node)
        if proto.region != region:
            strings[proto.region] = region
        renumbered = self.script.renumber(proto.stage, bool(proto.links), serial)
        personal, personal_value = self.script.personal, self.script.personal_value
        cipher = self.ctx.vault.new_case_key(case_id, proto.cipher.key_version)  # the app's vault (or a stand-in)

        def value(v: Any, key: str | None = None) -> Any:
            if isinstance(v, dict):
                return {k: personal_value(k, person, x) if k in personal else value(x, k) for k, x in v.items()}
            if isinstance(v, list):
                return [value(x, key) for x in v]
            if isinstance(v, str):
                if key in renumbered:
                    return renumbered[key]
                if v in strings:
                    return strings[v]
                if ISO_DATE.match(v):
                    return (dt.date.fromisoformat(v) + days).isoformat()
                if ISO_DATETIME.match(v):
                    return _shift_text(v, shift)
                return v
            if isinstance(v, int) and not isinstance(v, bool) and key == "invited":
                return nodes.get(v, v)
            return v

        opened: dict[tuple[str, str], Any] = {}  # current form values by form key, for the derived rows
        for table_name, rows in proto.rows.items():
            if table_name in SPECIAL:
                continue
            sealed, binary = self._columns(table_name)
            for row in rows:
                new: dict[str, Any] = {}
                for name, v in row.items():
                    if v is None:
                        new[name] = None
                    elif name in sealed:
                        continue
                    elif name.endswith("token"):  # a form's one-time token (double submissions): unique
                        new[name] = secrets.token_urlsafe(16)
                    elif name == "id" and isinstance(v, int):
                        new[name] = ints[(table_name, v)]
                    elif name in INT_REFS:
                        new[name] = ints.get((INT_REFS[name], v), v)
                    elif isinstance(v, uuid.UUID):
                        new[name] = uuids.get(v, v)
                    elif isinstance(v, bool):
                        new[name] = v
                    elif isinstance(v, int) and (name == "node_id" or name.endswith("_node_id")):
                        new[name] = nodes.get(v, v)
                    elif isinstance(v, int) and (name == "user_id" or name.endswith("_user_id")):
                        new[name] = user(v)
                    elif isinstance(v, dt.datetime):
                        new[name] = v + shift
                    elif isinstance(v, dt.date):
                        new[name] = v + days
                    elif name == "region_code":
                        new[name] = region if v == proto.region else v
                    elif name in binary:
                        new[name] = v
                    elif isinstance(v, str):
                        new[name] = strings.get(v, v)
                    else:
                        new[name] = value(v, name)
                row_id = new.get("id")
                for name in sealed:
                    if row[name] is None:
                        new[name] = None
                        continue
                    content = value(proto.plain[(table_name, name, row["id"])])
                    new[name] = cipher.seal(content, Cell(table_name, name, row_id))
                    if table_name == "form_records" and row["current"]:
                        opened[(row["form_key"], name)] = content
                if table_name == "cases":
                    new["reference"] = self._reference()
                    detecting = new["detecting_node_id"]
                elif table_name == "case_stats":
                    new["pseudonym"] = self._pseudonym(case_id)
                    new["record_key"] = new_record_key()
                    new["detecting_org_type"] = self.found.nodes[detecting].org_type
                out[table_name].append(new)
        values = {form: data for (form, _name), data in opened.items()}
        if proto.rows["case_stats"]:
            flags = proto.rows["cases"][0]["flags"] or {}
            out["case_stats"][-1]["attributes"] = self.definition.statistics.attributes(values, flags)
        spec = self.definition.duplicates
        if spec is not None and spec.form in values:
            for kind, digest in digests(self.ctx, values[spec.form]):
                out["blind_indexes"].append({"id": self._next_id("blind_indexes"), "case_id": case_id, "kind": kind,
                                             "digest": digest})
        for kind in proto.links:
            spec_link = self.definition.links[kind]
            digest = link_digest(self.ctx, kind, (values.get(spec_link.form) or {}).get(spec_link.field))
            if digest is not None:
                out["case_links"].append({"id": self._next_id("case_links"), "case_id": case_id, "kind": kind,
                                          "digest": digest})
        created = out["cases"][-1]["created_at"]
        for node_id in sorted({nodes.get(n, n) for n in proto.wrap_nodes}):
            key_id, key_version, public = self.found.keys[node_id]
            out["case_key_wraps"].append({
                "id": self._next_id("case_key_wraps"), "case_id": case_id, "key_version": cipher.key_version,
                "node_id": node_id, "node_key_id": key_id, "created_at": created,
                "wrapped": self.ctx.vault.wrap_case_key(cipher, node_id, key_version, public)})
        clone_pseudonym = self._pseudonym(case_id)
        for event in proto.audit:
            audit_out.append({
                "at": event["at"] + shift, "action": event["action"], "actor_role": event["actor_role"],
                "actor_node_id": nodes.get(event["actor_node_id"], event["actor_node_id"]),
                "case_pseudonym": clone_pseudonym, "subject": strings.get(event["subject"], event["subject"]),
                "details": value(event["details"] or {})})

    def _columns(self, table_name: str) -> tuple[list[str], frozenset[str]]:
        """A table's sealed columns and its binary ones (worked out once, not per clone)."""
        found = self._column_kinds.get(table_name)
        if found is None:
            table = Base.metadata.tables[table_name]
            found = self._column_kinds[table_name] = (
                sealed_columns(table), frozenset(c.name for c in table.c if isinstance(c.type, LargeBinary)))
        return found

    def _pseudonym(self, case_id: uuid.UUID) -> str:
        return hmac.new(self.pseudonym_key, case_id.bytes, hashlib.sha256).hexdigest()[:24]


def _shift_text(value: str, shift: dt.timedelta) -> str:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    return (moment + shift).isoformat()


# -- the whole run ------------------------------------------------------------------------------------------


def load_scale(app: Flask, *, cases: int, seed: int, progress: Callable[[str], None] = stderr_line) -> str:
    """Wipe the database and load the demo network grown to national scale and `cases` cases."""
    folder = country_folder(app.config)
    country = load_script(folder)
    script: ScaleScript | None = getattr(country, "SCALE", None)
    if script is None:
        raise RuntimeError(f"{folder.name}: the country's demo script has no SCALE (docs/countries.md)")
    started = time.monotonic()
    engine = database.engine(app)
    clear_all(engine)
    session = database.factory(app)()
    rng = random.Random(seed)
    try:
        network = load_network(session, app.config["PASSWORD_PROFILE"],
                               app.extensions["referral.protocol"].definition,
                               masters=app.extensions["referral.vault"].masters, folder=folder)
        any_user = next(iter(network.users.values()))  # every demo account has the demo password's one hash
        grow_network(session.connection(), network, rng, any_user.password_hash, script, country.DOMAIN)
        session.commit()
        ctx = Context(session=session, protocol=app.extensions["referral.protocol"],
                      vault=app.extensions["referral.vault"], timezone=app.extensions["referral.timezone"],
                      blobs=app.extensions["referral.blobs"])
        found = directory(ctx, script)
        session.commit()
        generator = country.Cases(ctx, network, seed)
        slots = script.draw(cases, seed, [r.code for r in network.regions], generator.real_now.date())
        prototypes: dict[Key, Prototype] = {}
        rest: list[tuple[str, Person]] = []
        for stage, person in slots:
            key = script.prototype_key(stage, person)
            if key in prototypes:
                rest.append((stage, person))
                continue
            case = script.build_prototype(generator, stage, person)
            session.commit()
            prototypes[key] = read_prototype(ctx, case, stage, person)
        ctx.clock = lambda: dt.datetime.now(dt.UTC)
        progress(f"  {len(prototypes)} prototype cases through the services in {time.monotonic() - started:.0f} s")
        clone_all(ctx, found, prototypes, rest, rng, cases, progress, script)
        began = time.monotonic()
        rows = rebuild_worklists(session, ctx.definition)  # the clones came in by COPY, past the session's events
        session.commit()
        progress(f"  {rows} worklist rows computed in {time.monotonic() - began:.0f} s")
    finally:
        session.close()
    elapsed = time.monotonic() - started
    return (f"scale demo loaded: {len(found.nodes)} nodes, {len(found.user_node_role)} users, {cases} cases "
            f"({len(prototypes)} prototypes) in {elapsed:.0f} s (seed {seed}).")


def bulk_insert(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert `rows` (dicts with the same keys) into `table`: with COPY on PostgreSQL (each value through its
    column type's bind processing, as an INSERT would: JSON, UTC datetimes), else an executemany INSERT.
    Rows that leave out a column with a Python-side default take the INSERT, which applies it."""
    names = list(rows[0])
    omitted = [c for c in table.c if c.name not in rows[0] and c.default is not None]
    if connection.dialect.name != "postgresql" or omitted or any(len(row) != len(names) for row in rows):
        connection.execute(insert(table), rows)
        return
    processors = [table.c[name].type._cached_bind_processor(connection.dialect) for name in names]
    columns = ", ".join(f'"{name}"' for name in names)
    cursor = connection.connection.cursor()
    try:
        with cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:  # type: ignore[attr-defined]
            for row in rows:
                copy.write_row([value if process is None or value is None else process(value)
                                for process, value in zip(processors, (row[name] for name in names), strict=True)])
    finally:
        cursor.close()


def clone_all(ctx: Context, found: Directory, prototypes: dict[Key, Prototype], rest: list[tuple[str, Person]],
              rng: random.Random, total: int, progress: Callable[[str], None], script: ScaleScript) -> None:
    session: Session = ctx.session
    session.expunge_all()
    connection = session.connection()
    int_tables = ("case_assignments", "case_clocks", "case_participants", "case_key_wraps", "blind_indexes",
                  "case_links")
    ids = {name: connection.scalar(select(func.coalesce(func.max(Base.metadata.tables[name].c.id), 0)))
           for name in int_tables}
    cloner = Cloner(ctx, found, rng, ids, script)
    head = session.get(AuditHead, HEAD_ID)
    seq, prev = (head.seq, bytes(head.hash)) if head is not None else (0, GENESIS)
    tables = [t for t in case_tables()]
    report = Progress(total, progress)
    done = len(prototypes)
    serial = 0
    for start in range(0, len(rest), BATCH):
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        audit_rows: list[dict[str, Any]] = []
        for stage, person in rest[start:start + BATCH]:
            cloner.clone(prototypes[script.prototype_key(stage, person)], person, serial, out, audit_rows)
            serial += 1
        for event in audit_rows:
            seq += 1
            body = canonical(seq, event["at"], event["action"], event["actor_role"], event["actor_node_id"],
                             event["case_pseudonym"], event["subject"], event["details"])
            event["seq"], event["prev_hash"] = seq, prev
            prev = event["hash"] = link(prev, body)
        connection = session.connection()
        for table in tables:
            rows = out.get(table.name)
            if rows:
                bulk_insert(connection, table, rows)
        if audit_rows:
            bulk_insert(connection, AuditEvent.__table__, audit_rows)
            connection.execute(update(AuditHead.__table__).where(AuditHead.id == HEAD_ID).values(seq=seq, hash=prev))
        session.commit()
        done += len(out["cases"])
        report(done)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        for name in int_tables:
            connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                    f"(SELECT COALESCE(MAX(id), 1) FROM {name}))"))
    session.commit()
