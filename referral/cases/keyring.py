"""The bridge between case rows and the vault: create and open a case's data key."""

from __future__ import annotations

from sqlalchemy import select

from ..context import Context
from ..vault import CaseCipher, WrappedCaseKey
from .models import Case, CaseKey


def create_case_key(ctx: Context, case: Case) -> CaseCipher:
    """Give a new case its data key (stored wrapped) and return it ready to seal."""
    stored, cipher = ctx.vault.new_case_key(case.id)
    ctx.session.add(CaseKey(case_id=case.id, version=stored.version, master_key_id=stored.master_key_id,
                            wrapped=stored.wrapped))
    case.key_version = stored.version
    ctx.ciphers[case.id] = cipher
    return cipher


def cipher_for(ctx: Context, case: Case) -> CaseCipher:
    """The opened data key of `case`, unwrapped once per unit of work."""
    cipher = ctx.ciphers.get(case.id)
    if cipher is None:
        row = ctx.session.scalar(
            select(CaseKey).where(CaseKey.case_id == case.id, CaseKey.version == case.key_version)
        )
        if row is None:
            raise LookupError(f"case {case.reference} has no data key version {case.key_version}")
        cipher = ctx.vault.open_case_key(WrappedCaseKey(row.case_id, row.version, row.master_key_id, row.wrapped))
        ctx.ciphers[case.id] = cipher
    return cipher
