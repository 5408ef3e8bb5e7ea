"""The application with the plaintext stand-in for the vault (`bench.plain.PlainVault`), for `bench/web.py` only.

- `gunicorn -c gunicorn.conf.py bench.plain_wsgi:app`: served as `wsgi:app` is, configured from the same
  environment (database URL, instance folder, master key, session secret), with the stand-in in place of the vault.
- `python -m bench.plain_wsgi --cases N --seed S`: builds its database as `flask --app wsgi demo scale --cases N
  --seed S` does (`referral/cli.py`, `demo_scale`: the migrations, then `referral.demo.scale.load_scale`), with
  this app, so every key, wrap and cell of the build goes through the stand-in.

A benchmark's baseline, never the product: nothing in `referral/` imports `bench/`, and `wsgi.py` serves the real
vault.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from unittest import mock

from flask import Flask

from referral import StartupError

from .plain import PlainVault, plain_app

try:
    app = plain_app()
except StartupError as error:
    sys.exit(f"referral cannot start: {error}")


@contextlib.contextmanager
def _clones_keyed_by_the_stand_in() -> Iterator[None]:
    """`load_scale` gives each cloned case its key from `Vault.new_case_key`, the real vault's class, not the app's
    vault (`referral/demo/scale.py`, `Cloner.clone`): the clones' cells would be AES-GCM under keys wrapped as the
    stand-in's placeholders, and no page could open them. For the build, the stand-in's class takes its place in
    that module (this process only)."""
    from referral.demo import scale

    if getattr(scale, "Vault", None) is None:  # the module no longer names the class: nothing to replace
        yield
        return
    with mock.patch.object(scale, "Vault", PlainVault):
        yield


def build(target: Flask, cases: int, seed: int) -> str:
    """What `flask demo scale` does (referral/cli.py), on `target`."""
    from referral import migrate
    from referral.demo.scale import load_scale
    from referral.extensions import database

    if target.config["REFERRAL_ENV"] == "production":
        raise SystemExit("refusing to load demo data with REFERRAL_ENV=production")
    migrate.upgrade(database.engine(target))
    with _clones_keyed_by_the_stand_in():
        return load_scale(target, cases=cases, seed=seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plain_wsgi",
                                     description="Build the scale demo with the plaintext stand-in for the vault.")
    parser.add_argument("--cases", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    arguments = parser.parse_args(argv)
    print(build(app, arguments.cases, arguments.seed), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
