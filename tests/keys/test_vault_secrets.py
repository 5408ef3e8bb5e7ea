"""Root secrets (the audit pseudonym key, the blind-index key) outlive the request that first needed them,
whether or not it commits: an auditor's first GET must not give every case another name on the next."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import delete, func, select

from referral.audit.service import record
from referral.kernel.key_models import VaultSecret
from referral.kernel.keystore import vault_secret

from ..backends import both_backends
from ..units import unit_of_work

NAME = "test-root-secret"


@both_backends
def test_a_secret_made_by_a_request_that_never_commits_is_kept(app: Any) -> None:
    with unit_of_work(app) as ctx:
        first = vault_secret(ctx, NAME)
        ctx.session.rollback()  # a read-only page: its unit of work ends without a commit
    with unit_of_work(app) as ctx:
        assert vault_secret(ctx, NAME) == first
        assert ctx.session.scalar(select(func.count()).select_from(VaultSecret).where(VaultSecret.name == NAME)) == 1


@both_backends
def test_a_secret_made_inside_a_writing_step_is_kept_with_it_and_the_step_still_commits(app: Any) -> None:
    with unit_of_work(app) as ctx:
        record(ctx, "test.step")  # the step has written (on SQLite it now holds the write lock)
        made = vault_secret(ctx, NAME)
        ctx.session.commit()
    with unit_of_work(app) as ctx:
        assert vault_secret(ctx, NAME) == made


@both_backends
def test_two_first_uses_at_once_agree_on_one_secret(app: Any) -> None:
    with unit_of_work(app) as ctx:
        ctx.session.execute(delete(VaultSecret).where(VaultSecret.name == NAME))
        ctx.session.commit()
    barrier, seen = threading.Barrier(2), []

    def first_use() -> None:
        with unit_of_work(app) as ctx:
            barrier.wait()
            seen.append(vault_secret(ctx, NAME))
            ctx.session.rollback()

    threads = [threading.Thread(target=first_use) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 2 and seen[0] == seen[1]
