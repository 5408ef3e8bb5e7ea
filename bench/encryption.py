"""What encryption costs: three operations timed with the real vault and with a plaintext baseline, in one run.

Two SQLite databases are built side by side in a temporary folder, each migrated and loaded with the
demo network. One app keeps the real vault (AES-256-GCM cells, HPKE wraps of case keys, X25519 node
keys under the master key); the other gets `bench.plain.PlainVault`, which runs the same code paths
with the cryptography left out. The same N Fichas (10,000; 100 with --quick), all detected in the
Metropolitana region, are filed into both through `referral.cases.intake.file_intake`, so every case
lands in the triage inbox of the region's focal-point coordinator (coordinador.rm).

Before measuring, one request of each page is timed on the encrypted database as it is after loading
(`*_no_stats_ms`); then both databases get `ANALYZE`. Without planner statistics SQLite runs the
worklist queries (`EXISTS` over case_participants) through the node_id index, which is quadratic in
the number of cases: tens of seconds per page at 10,000 cases, whatever the vault. With statistics
(SQLite then probes by case_id) the pages take milliseconds and the ratios measure encryption.

Then, alternating encrypted and plaintext call by call (after warm-up), it times:

- case page: HTTP GET /casos/<reference> through the Flask test client, signed in as coordinador.rm
  (cycling over 25 cases spread across the inbox);
- inbox: HTTP GET /bandeja/triaje, page 1 (25 rows) of the inbox holding the N cases;
- Ficha: one unit of work at service level: a new session, the filing user loaded, `file_intake`, commit.
- search (`search_ms`, encrypted only): HTTP POST /buscar by the names and date of birth of one loaded person,
  through the blind indexes, the access rule and the decryption of the matching rows (target ≤ 50 ms).

- attachment (`attachment_mb_per_s`): a case document of 25 MB (5 MB with --quick) sealed in 64 KiB AES-256-GCM
  chunks under a fresh file key, written to the local-folder blob store (synced, renamed), then opened and
  read back to the end; against `attachment_plain_mb_per_s`, the same bytes copied into a file of the same
  folder the same way (synced, renamed) and read back. `attachment_ratio` is sealed seconds / plain seconds;
  target ≤ 1.5.

Each is reported as the median in milliseconds for both variants and their ratio (encrypted / plain).
Alongside, the number of sealed cells opened and case keys unwrapped by one request of each page (with
the real vault) shows whether the inbox decrypts only the rows it shows.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from referral.cases.inbox import PAGE_SIZE
from referral.cases.intake import file_intake
from referral.kernel.models import Case
from referral.cases.search import parse_query, search_cases
from referral.blobs import LocalFolderStore, new_blob_id
from referral.extensions import database
from referral.units import unit_of_work
from referral.vault import CHUNK, CaseCipher, FileCipher, Vault, new_file_key

from tests.browser import hidden_inputs

from .plain import PlainVault
from .support import (
    COORDINATOR, Clock, FichaMaker, Filing, Metrics, Progress, build_app, interleaved, logged_in, median, timed_ms,
    user_named,
)

END = dt.datetime(2026, 11, 18, 15, 0, tzinfo=dt.UTC)  # a weekday noon in Santiago, as in the tests
STEP = dt.timedelta(minutes=20)  # between two loaded Fichas: 10,000 span about 139 days
BATCH = 200  # Fichas per commit while loading
SEED = 2026
INBOX_URL = "/bandeja/triaje"
FICHA_USER = "salud.rm"
SAMPLED_CASES = 25
VARIANTS = ("encrypted", "plain")


@dataclass(frozen=True)
class Size:
    cases: int
    case_page_repetitions: int
    inbox_repetitions: int
    ficha_repetitions: int
    warmup: int


FULL = Size(cases=10_000, case_page_repetitions=200, inbox_repetitions=100, ficha_repetitions=200, warmup=10)
QUICK = Size(cases=100, case_page_repetitions=20, inbox_repetitions=10, ficha_repetitions=20, warmup=3)


def run(quick: bool, progress: Progress) -> Metrics:
    size = QUICK if quick else FULL
    clock = Clock(END)
    with tempfile.TemporaryDirectory(prefix="referral-bench-encryption-") as folder:
        apps = {"encrypted": build_app(Path(folder) / "encrypted", clock),
                "plain": build_app(Path(folder) / "plain", clock, PlainVault())}
        try:
            return _measure(apps, clock, size, progress)
        finally:
            for app in apps.values():
                database.engine(app).dispose()


def _measure(apps: dict[str, Flask], clock: Clock, size: Size, progress: Progress) -> Metrics:
    metrics: Metrics = {"cases_count": size.cases}
    maker = FichaMaker(SEED, apps["encrypted"].extensions["referral.timezone"])
    start = END - STEP * size.cases
    progress(f"preparing {size.cases} Fichas (region Metropolitana)")
    filings = [maker.filing(start + STEP * index) for index in range(size.cases)]
    for name in VARIANTS:
        progress(f"filing {size.cases} Fichas into the {name} database")
        metrics[f"load_{name}_s"] = round(_load(apps[name], clock, filings, name, progress), 2)
    clock.now = END
    _check_storage(apps)

    clients = {name: logged_in(app, COORDINATOR) for name, app in apps.items()}
    references = {name: _sampled_references(app, SAMPLED_CASES) for name, app in apps.items()}
    pages = {"inbox": INBOX_URL, "case_page": f"/casos/{references['encrypted'][0]}"}
    progress("one request of each page before ANALYZE (encrypted database)")
    for page, url in pages.items():
        metrics[f"{page}_no_stats_ms"] = round(timed_ms(_getter(clients["encrypted"], lambda _r, url=url: url)), 1)
        progress(f"  {page}: {metrics[f'{page}_no_stats_ms']:.0f} ms")
    for app in apps.values():
        _analyze(app)
    _check_inbox(clients, size.cases)

    progress(f"case page: {size.case_page_repetitions} requests per variant")
    case_pages = interleaved({name: _getter(client, _case_url(references[name])) for name, client in clients.items()},
                             size.case_page_repetitions, size.warmup)
    _report(metrics, "case_page", case_pages, progress)

    progress(f"inbox: {size.inbox_repetitions} requests per variant of {INBOX_URL} ({size.cases} cases)")
    inboxes = interleaved({name: _getter(client, lambda _r: INBOX_URL) for name, client in clients.items()},
                          size.inbox_repetitions, size.warmup)
    _report(metrics, "inbox", inboxes, progress)
    metrics.update(_decryptions(clients["encrypted"], pages))

    progress(f"search: {size.inbox_repetitions} searches by names and date of birth among {size.cases} cases")
    metrics.update(_search(clients["encrypted"], apps["encrypted"], filings, size))

    progress(f"Ficha: {size.ficha_repetitions} filings per variant (service level, one commit each)")
    extra = [maker.filing(END, FICHA_USER) for _ in range(size.warmup + size.ficha_repetitions)]
    fichas = interleaved({name: _filer(app, extra, size.warmup) for name, app in apps.items()},
                         size.ficha_repetitions, size.warmup)
    _report(metrics, "ficha", fichas, progress)
    metrics.update(_attachments(size, progress))
    return metrics


def _attachments(size: Size, progress: Progress) -> Metrics:
    """Seal + store + read back a document, against a plain copy + read back, alternated, in one folder."""
    megabytes = 5 if size is QUICK else 25
    repetitions = max(11, size.ficha_repetitions // 10)
    progress(f"attachment: {megabytes} MB, {repetitions} runs per variant (sealed in chunks / plain copy)")
    with tempfile.TemporaryDirectory(prefix="referral-bench-attachments-") as folder:
        source = Path(folder) / "source.pdf"
        with source.open("wb") as out:
            for _ in range(megabytes * 16):
                out.write(b"%PDF" + os.urandom(CHUNK - 4))
        store = LocalFolderStore(Path(folder) / "store")

        def sealed(_repetition: int) -> None:
            file_id, blob_id = uuid.uuid4(), new_blob_id()
            cipher = FileCipher(file_id, 1, new_file_key())
            with source.open("rb") as plain:
                store.put(blob_id, cipher.seal(plain.read))
            with store.open(blob_id) as stored:
                for _chunk in cipher.open(stored.read):
                    pass
            store.delete(blob_id)

        def copied(_repetition: int) -> None:
            blob_id = new_blob_id()
            with source.open("rb") as plain:
                store.put(blob_id, iter(functools.partial(plain.read, CHUNK), b""))
            with store.open(blob_id) as stored:
                for _chunk in iter(functools.partial(stored.read, CHUNK), b""):
                    pass
            store.delete(blob_id)

        errors, in_clear = _check_round_trip(source, store)
        samples = interleaved({"sealed": sealed, "plain": copied}, repetitions, 2)
    seconds = {name: median(values) / 1000 for name, values in samples.items()}
    metrics: Metrics = {"attachment_mb_per_s": round(megabytes / seconds["sealed"], 1),
                        "attachment_plain_mb_per_s": round(megabytes / seconds["plain"], 1),
                        "attachment_ratio": round(seconds["sealed"] / seconds["plain"], 3),
                        "attachment_bytes": megabytes * 1024 * 1024,
                        "attachment_round_trip_errors_count": errors, "attachment_plain_chunks_on_disk_count": in_clear}
    progress(f"  sealed {metrics['attachment_mb_per_s']} MB/s, plain {metrics['attachment_plain_mb_per_s']} MB/s, "
             f"ratio {metrics['attachment_ratio']}")
    return metrics


def _check_round_trip(source: Path, store: LocalFolderStore) -> tuple[int, int]:
    """Before timing, once: (1 if the document read back differs from the source else 0, how many of the source's
    chunks the stored blob holds in clear)."""
    file_id, blob_id = uuid.uuid4(), new_blob_id()
    cipher = FileCipher(file_id, 1, new_file_key())
    with source.open("rb") as plain:
        store.put(blob_id, cipher.seal(plain.read))
    with store.open(blob_id) as stored:
        read_back = b"".join(cipher.open(stored.read))
    with store.open(blob_id) as stored:
        blob = stored.read()
    store.delete(blob_id)
    original = source.read_bytes()
    chunks = [original[i:i + CHUNK] for i in range(0, len(original), CHUNK)]
    return int(read_back != original), sum(1 for chunk in chunks if chunk in blob)


def _load(app: Flask, clock: Clock, filings: list[Filing], name: str, progress: Progress) -> float:
    """File every Ficha through the intake service, committing every BATCH; seconds taken."""
    began = time.perf_counter()
    for first in range(0, len(filings), BATCH):
        batch = filings[first : first + BATCH]
        with unit_of_work(app) as ctx:
            users = {who: user_named(ctx, who) for who in {filing.user for filing in batch}}
            for index, filing in enumerate(batch, start=first):
                clock.now = filing.at
                file_intake(ctx, users[filing.user], filing.values, f"bench-load-{index:06d}")
            ctx.session.commit()
        done = first + len(batch)
        if done % 1000 == 0 or done == len(filings):
            progress(f"  {name}: {done}/{len(filings)} Fichas filed ({time.perf_counter() - began:.1f}s)")
    return time.perf_counter() - began


def _check_storage(apps: dict[str, Flask]) -> None:
    """Guard against a mix-up: the baseline's cells hold readable JSON, the real ones do not."""
    for name, app in apps.items():
        with unit_of_work(app) as ctx:
            summary = ctx.session.scalar(select(Case.summary).where(Case.summary.is_not(None)).limit(1)) or b""
        readable = b'"nombres"' in summary
        if readable != (name == "plain"):
            raise RuntimeError(f"the {name} database does not hold the cells it should ({summary[:20]!r}...)")


def _analyze(app: Flask) -> None:
    """Give SQLite's planner its statistics; new connections then plan with them."""
    engine = database.engine(app)
    with engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")
    engine.dispose()


def _check_inbox(clients: dict[str, FlaskClient], cases: int) -> None:
    """Every loaded case is in the coordinator's inbox, and page 1 shows a full page of rows."""
    for name, client in clients.items():
        page = client.get(INBOX_URL)
        match = re.search(r'<span class="count">(\d+)</span>', page.text)
        if page.status_code != 200 or match is None:
            raise RuntimeError(f"{name}: {INBOX_URL} answered {page.status_code} without a case count")
        if int(match.group(1)) != cases:
            raise RuntimeError(f"{name}: the triage inbox holds {match.group(1)} cases, expected {cases}")
        rows = page.text.count('class="ref"')
        if rows != min(PAGE_SIZE, cases):
            raise RuntimeError(f"{name}: page 1 of the inbox shows {rows} rows, expected {min(PAGE_SIZE, cases)}")


def _decryptions(client: FlaskClient, pages: dict[str, str]) -> Metrics:
    """Cells opened, case keys unwrapped and node keys opened by one request of each page (real vault)."""
    metrics: Metrics = {"inbox_rows_count": client.get(INBOX_URL).text.count('class="ref"')}
    for page, url in pages.items():
        with _counting([(CaseCipher, "open"), (Vault, "unwrap_case_key"), (Vault, "open_node_key")]) as counts:
            client.get(url)
        metrics[f"{page}_cell_opens_count"] = counts["CaseCipher.open"]
        metrics[f"{page}_key_unwraps_count"] = counts["Vault.unwrap_case_key"]
        metrics[f"{page}_node_key_opens_count"] = counts["Vault.open_node_key"]
    return metrics


def _search(client: FlaskClient, app: Flask, filings: list[Filing], size: Size) -> Metrics:
    """POST /buscar by names and date of birth (encrypted database): the blind-index lookup, the access rule,
    the matching rows decrypted and the audit event committed; the median over the repetitions. Beside it,
    `search_service_ms`: the search service alone in a unit of work (no page, no header counts)."""
    values = next(f.values for f in filings[len(filings) // 2:] + filings
                  if f.values.get("apellidos") and isinstance(f.values.get("fecha_nacimiento"), dt.date))
    data = {"csrf_token": hidden_inputs(client.get(INBOX_URL).text)["csrf_token"],
            "q": f"{values['nombres']} {values['apellidos']}", "nacimiento": values["fecha_nacimiento"].isoformat()}
    rows = 0

    def search() -> None:
        nonlocal rows
        answer = client.post("/buscar", data=data)
        rows = answer.text.count('class="ref"')
        if answer.status_code != 200 or rows == 0:
            raise RuntimeError(f"/buscar answered {answer.status_code} with {rows} rows")

    for _ in range(size.warmup):
        search()
    samples = [timed_ms(search) for _ in range(size.inbox_repetitions)]
    query = parse_query(data["q"], values["fecha_nacimiento"])

    def service() -> None:
        with unit_of_work(app) as ctx:
            if not search_cases(ctx, user_named(ctx, COORDINATOR), query, "es").rows:
                raise RuntimeError("the search service found nothing")
            ctx.session.commit()

    for _ in range(size.warmup):
        service()
    alone = [timed_ms(service) for _ in range(size.inbox_repetitions)]
    return {"search_ms": round(median(samples), 3), "search_service_ms": round(median(alone), 3),
            "search_rows_count": rows}


def _sampled_references(app: Flask, count: int) -> list[str]:
    """`count` references spread evenly over the cases in filing order (the same cases in both databases)."""
    with unit_of_work(app) as ctx:
        references = list(ctx.session.scalars(select(Case.reference).order_by(Case.created_at, Case.reference)))
    stride = max(1, len(references) // count)
    return [references[index * stride % len(references)] for index in range(count)]


def _case_url(references: list[str]) -> Callable[[int], str]:
    return lambda repetition: f"/casos/{references[repetition % len(references)]}"


def _getter(client: FlaskClient, url: Callable[[int], str]) -> Callable[[int], object]:
    """A GET of `url(repetition)` that must answer 200."""
    def get(repetition: int = 0) -> object:
        answer = client.get(url(repetition))
        if answer.status_code != 200:
            raise RuntimeError(f"{url(repetition)} answered {answer.status_code}")
        return answer

    return get


def _filer(app: Flask, filings: list[Filing], warmup: int) -> Callable[[int], object]:
    """File filings[warmup + repetition] in a unit of work of its own (warm-ups take the first ones)."""
    def file(repetition: int) -> object:
        index = warmup + repetition if repetition >= 0 else -1 - repetition
        filing = filings[index]
        with unit_of_work(app) as ctx:
            case = file_intake(ctx, user_named(ctx, filing.user), filing.values, f"bench-ficha-{index:06d}")
            ctx.session.commit()
        return case

    return file


def _report(metrics: Metrics, operation: str, samples: dict[str, list[float]], progress: Progress) -> None:
    encrypted, plain = median(samples["encrypted"]), median(samples["plain"])
    metrics[f"{operation}_encrypted_ms"] = round(encrypted, 3)
    metrics[f"{operation}_plain_ms"] = round(plain, 3)
    metrics[f"{operation}_ratio"] = round(encrypted / plain, 3)
    metrics[f"{operation}_samples_count"] = len(samples["encrypted"])
    progress(f"  {operation}: encrypted {encrypted:.2f} ms, plain {plain:.2f} ms, ratio {encrypted / plain:.3f}")


@contextmanager
def _counting(targets: list[tuple[type, str]]) -> Iterator[Counter[str]]:
    """Count calls of the given methods while the block runs (for one untimed request), then restore them."""
    counts: Counter[str] = Counter()
    originals = [(owner, name, owner.__dict__[name]) for owner, name in targets]
    for owner, name, original in originals:
        key = f"{owner.__name__}.{name}"

        @functools.wraps(original)
        def counted(*args: Any, _original: Any = original, _key: str = key, **kwargs: Any) -> Any:
            counts[_key] += 1
            return _original(*args, **kwargs)

        setattr(owner, name, counted)
    try:
        yield counts
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
