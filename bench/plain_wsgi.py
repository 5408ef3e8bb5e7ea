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
import sys

from flask import Flask

from referral import StartupError

from .plain import plain_app

try:
    app = plain_app()
except StartupError as error:
    sys.exit(f"referral cannot start: {error}")


def build(target: Flask, cases: int, seed: int) -> str:
    """What `flask demo scale` does (referral/cli.py), on `target`."""
    from referral import migrate
    from referral.demo.scale import load_scale
    from referral.extensions import database

    if target.config["REFERRAL_ENV"] == "production":
        raise SystemExit("refusing to load demo data with REFERRAL_ENV=production")
    migrate.upgrade(database.engine(target))
    return load_scale(target, cases=cases, seed=seed)  # every clone's key from the app's vault: the stand-in


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
