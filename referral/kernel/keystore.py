"""The bridge between key rows and the vault: node key pairs, per-node case key wraps, opened ciphers.

A unit of work acts as one node (`Context.keyholder`, set by the services from the user). A case key
opens only through that node's own wrap, with that node's private key: a node whose wrap is gone
cannot decrypt the case, whatever a view might allow. Wraps follow the case's live participants
(`sync_wraps`): a node gains a wrap when it gains a relation, and loses it when its last relation ends.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .errors import AccessDenied
from .models import Case, CaseKey, Participant, live_participant
from ..context import Context
from ..vault import BlindIndexer, CaseCipher, Cell, NodePrivateKey, StoredNodeKey, sealed_version
from ..workflow import Text
from .key_models import CaseKeyWrap, NodeKey, VaultSecret

BLIND_INDEX_SECRET = "blind-index"


class NoKeyAccess(AccessDenied):
    """The acting node holds no wrap of this case's key: it cannot decrypt, whatever else it may see."""

    message = Text("Su nodo ya no tiene acceso a este caso.", "Your node no longer has access to this case.")


# -- node key pairs ---------------------------------------------------------------------------


def stored(row: NodeKey) -> StoredNodeKey:
    if row.private_wrapped is None or row.master_key_id is None:
        raise NoKeyAccess()
    return StoredNodeKey(row.node_id, row.version, row.public_key, row.private_wrapped, row.master_key_id)


def current_node_key(ctx: Context, node_id: int) -> NodeKey:
    """The node's newest active key pair; the first one is created when a node first needs it.

    The row is share-locked until the commit (PostgreSQL): a node rotation, which marks the key
    retiring, waits for the wraps being written under it, so it can never retire a key that a wrap
    committed a moment later still needs.
    """
    row = ctx.session.scalar(select(NodeKey).where(NodeKey.node_id == node_id, NodeKey.status == "active")
                             .order_by(NodeKey.version.desc()).limit(1).with_for_update(read=True))
    if row is not None:
        return row
    last = ctx.session.scalar(select(func.max(NodeKey.version)).where(NodeKey.node_id == node_id)) or 0
    return add_node_key(ctx, node_id, last + 1)


def add_node_key(ctx: Context, node_id: int, version: int) -> NodeKey:
    """Store a new key pair; if another process created this version first, use that one."""
    key = ctx.vault.new_node_key(node_id, version)
    row = NodeKey(node_id=node_id, version=version, status="active", public_key=key.public_key,
                  private_wrapped=key.private_wrapped, master_key_id=key.master_key_id, created_at=ctx.now())
    try:
        with ctx.session.begin_nested():
            ctx.session.add(row)
    except IntegrityError:
        existing = ctx.session.scalar(select(NodeKey).where(NodeKey.node_id == node_id, NodeKey.version == version))
        if existing is None:
            raise
        return existing
    return row


def private_key(ctx: Context, row: NodeKey) -> NodePrivateKey:
    """A node's private key, unwrapped once per unit of work."""
    cache = ctx.keycache.setdefault("node", {})
    if row.id not in cache:
        cache[row.id] = ctx.vault.open_node_key(stored(row))
    opened: NodePrivateKey = cache[row.id]
    return opened


# -- case keys --------------------------------------------------------------------------------


def create_case_key(ctx: Context, case: Case) -> CaseCipher:
    """Give a new case its first data key; `sync_wraps` then wraps it for each participant node."""
    cipher = ctx.vault.new_case_key(case.id, 1)
    ctx.session.add(CaseKey(case_id=case.id, version=1, status="active", created_at=ctx.now()))
    case.key_version = 1
    ctx.ciphers[(case.id, 1)] = cipher
    return cipher


def cipher_for(ctx: Context, case: Case, version: int | None = None) -> CaseCipher:
    """The case's data key (`version`, default the current one), opened through the acting node's wrap."""
    version = case.key_version if version is None else version
    cached = ctx.ciphers.get((case.id, version))
    if cached is not None:
        return cached
    if ctx.keyholder is None:
        raise NoKeyAccess()  # no unit of work opens a case without acting as a node
    # the wrap and the node key it is sealed to, in one statement (issue 17)
    found = ctx.session.execute(_with_node_key(select(CaseKeyWrap, NodeKey).where(
        CaseKeyWrap.case_id == case.id, CaseKeyWrap.key_version == version,
        CaseKeyWrap.node_id == ctx.keyholder))).first()
    if found is None:
        if _legacy(ctx, case.id, version):
            raise NoKeyAccess(Text(
                "La clave de este caso aún no se ha convertido; un administrador debe ejecutar «flask keys rotate-master».",
                "This case's key has not been converted yet; an administrator must run «flask keys rotate-master».",
            ))
        raise NoKeyAccess()
    cipher = open_wrap(ctx, found[0], found[1])
    ctx.ciphers[(case.id, version)] = cipher
    return cipher


def _with_node_key(query: Any) -> Any:
    """`query` (of CaseKeyWrap, NodeKey) with each wrap's node key joined: no second statement to open it."""
    return query.outerjoin(NodeKey, NodeKey.id == CaseKeyWrap.node_key_id)


def open_wrap(ctx: Context, wrap: CaseKeyWrap, node_key: NodeKey | None = None) -> CaseCipher:
    """Open a wrap with its node's private key; `node_key`: the wrap's key row when the caller read it
    with the wrap (else it is read, unless this unit of work opened it already)."""
    opened = ctx.keycache.setdefault("node", {}).get(wrap.node_key_id)
    if opened is None:
        if node_key is None:
            node_key = ctx.session.get(NodeKey, wrap.node_key_id)
        if node_key is None or node_key.id != wrap.node_key_id:
            raise NoKeyAccess()
        opened = private_key(ctx, node_key)
    return ctx.vault.unwrap_case_key(wrap.wrapped, wrap.case_id, wrap.key_version, opened)


def open_many(ctx: Context, cases: list[Case]) -> None:
    """Open the current keys of several cases (one worklist page) with one query for their wraps.

    Cases without a wrap for the acting node are left closed: reading them raises NoKeyAccess.
    """
    wanted = [c for c in cases if (c.id, c.key_version) not in ctx.ciphers]
    if not wanted or ctx.keyholder is None:
        return
    versions = {c.id: c.key_version for c in wanted}
    for wrap, node_key in ctx.session.execute(_with_node_key(select(CaseKeyWrap, NodeKey).where(
            CaseKeyWrap.case_id.in_(versions), CaseKeyWrap.node_id == ctx.keyholder))):
        if versions.get(wrap.case_id) == wrap.key_version:
            ctx.ciphers[(wrap.case_id, wrap.key_version)] = open_wrap(ctx, wrap, node_key)


def system_cipher(ctx: Context, case_id: uuid.UUID, version: int) -> CaseCipher:
    """A case key opened through any live wrap, for key maintenance only (rotation), never for reading."""
    cached = ctx.ciphers.get((case_id, version))
    if cached is not None:
        return cached
    for wrap in ctx.session.scalars(select(CaseKeyWrap).where(
            CaseKeyWrap.case_id == case_id, CaseKeyWrap.key_version == version).order_by(CaseKeyWrap.id)):
        cipher = open_wrap(ctx, wrap)
        ctx.ciphers[(case_id, version)] = cipher
        return cipher
    legacy = _legacy(ctx, case_id, version)
    if legacy is None:
        raise NoKeyAccess()
    cipher = ctx.vault.open_legacy_case_key(case_id, version, legacy.master_key_id or "", legacy.wrapped or b"")
    ctx.ciphers[(case_id, version)] = cipher
    return cipher


def _legacy(ctx: Context, case_id: uuid.UUID, version: int) -> CaseKey | None:
    row = ctx.session.get(CaseKey, (case_id, version))
    return row if row is not None and row.wrapped is not None else None


def open_cell(ctx: Context, case: Case, blob: bytes, cell: Cell) -> Any:
    """Decrypt a sealed cell with the key version named in its header."""
    return cipher_for(ctx, case, sealed_version(blob)).open(blob, cell)


def seal_cell(ctx: Context, case: Case, value: Any, cell: Cell) -> bytes:
    """Encrypt a value for a cell with the case's current key version."""
    return cipher_for(ctx, case).seal(value, cell)


def reader_nodes(ctx: Context, case_id: uuid.UUID) -> set[int]:
    """Nodes with a live reason to read the case: those holding a live participant relation."""
    return set(ctx.session.scalars(select(Participant.node_id).where(
        Participant.case_id == case_id, live_participant(ctx.now()))))


def sync_wraps(ctx: Context, case: Case) -> None:
    """Make the case's key wraps match its live participants: wrap for newcomers, delete for leavers.

    Wrapping needs the case key open in this unit of work (the acting node has it, or maintenance
    opened it); deleting needs nothing.
    """
    ctx.session.flush()
    wanted = reader_nodes(ctx, case.id)
    versions = list(ctx.session.scalars(select(CaseKey.version).where(CaseKey.case_id == case.id)))
    wraps = list(ctx.session.scalars(select(CaseKeyWrap).where(CaseKeyWrap.case_id == case.id)))
    for version in versions:
        have = {w.node_id for w in wraps if w.key_version == version}
        missing = wanted - have
        if not missing:
            continue
        cipher = ctx.ciphers.get((case.id, version)) or cipher_for(ctx, case, version)
        for node_id in sorted(missing):
            add_wrap(ctx, cipher, node_id)
    gone = [w.id for w in wraps if w.node_id not in wanted]
    if gone:
        ctx.session.execute(delete(CaseKeyWrap).where(CaseKeyWrap.id.in_(gone)))


def add_wrap(ctx: Context, cipher: CaseCipher, node_id: int) -> None:
    node_key = current_node_key(ctx, node_id)
    ctx.session.add(CaseKeyWrap(
        case_id=cipher.case_id, key_version=cipher.key_version, node_id=node_id, node_key_id=node_key.id,
        wrapped=ctx.vault.wrap_case_key(cipher, node_id, node_key.version, node_key.public_key),
        created_at=ctx.now(),
    ))


# -- the blind-index key ----------------------------------------------------------------------


def vault_secret(ctx: Context, name: str) -> bytes:
    """A named root secret of the installation (created on first use, kept wrapped by the master key).

    A root secret must outlive the request that first needed it, whether or not that request commits:
    an auditor's first GET that needs the pseudonym key would otherwise create one, roll it back, and
    give every case another name on the next page. So it is created in a transaction of its own and
    committed at once, unless the caller already holds SQLite's write lock (a step that writes: it then
    goes into the caller's transaction, which that step commits, since a second writer would wait for it).
    """
    row = ctx.session.get(VaultSecret, name)
    if row is not None:
        return ctx.vault.open_secret(row.name, row.wrapped, row.master_key_id)
    wrapped, master_id, secret = ctx.vault.new_secret(name)
    made = VaultSecret(name=name, master_key_id=master_id, wrapped=wrapped, created_at=ctx.now())
    if _holds_sqlite_write_lock(ctx):
        try:
            with ctx.session.begin_nested():
                ctx.session.add(made)
        except IntegrityError:  # another process created it first: use that one
            row = ctx.session.get(VaultSecret, name)
            if row is None:
                raise
            return ctx.vault.open_secret(row.name, row.wrapped, row.master_key_id)
        return secret
    with Session(ctx.session.get_bind()) as own:
        own.add(made)
        try:
            own.commit()
        except IntegrityError:  # another process created it first: use that one
            own.rollback()
            row = own.get(VaultSecret, name)
            if row is None:
                raise
            return ctx.vault.open_secret(row.name, row.wrapped, row.master_key_id)
    return secret


def _holds_sqlite_write_lock(ctx: Context) -> bool:
    """Whether the caller's SQLite connection is inside a transaction (Python's sqlite3 opens one before
    the first write, or before a savepoint: see referral/db.py). Never on PostgreSQL, where a second
    connection inserting another row does not wait for the caller."""
    connection = ctx.session.connection()
    if connection.dialect.name != "sqlite":
        return False
    raw = connection.connection.dbapi_connection
    return bool(raw is not None and raw.in_transaction)


def blind_indexer(ctx: Context) -> BlindIndexer:
    """The indexer over the blind-index root secret."""
    cached = ctx.keycache.get("blind")
    if cached is not None:
        indexer: BlindIndexer = cached
        return indexer
    indexer = BlindIndexer(vault_secret(ctx, BLIND_INDEX_SECRET))
    ctx.keycache["blind"] = indexer
    return indexer
