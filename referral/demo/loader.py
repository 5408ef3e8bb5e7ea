"""`flask demo load`: the country's demo network and N cases driven through the real services.

The country folder's demo script (`workflows/<country>/demo.py`, docs/countries.md) says which accounts,
which people and which steps; this module wipes the database, loads the network and runs the script's
cases, committing each, with a simulated clock.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from ..context import Context
from ..extensions import database
from .country import country_folder, load_script
from .network import DEMO_PASSWORD, clear_all, load_network


def load_demo(app: Flask, *, cases: int, seed: int, progress: Callable[[str], None] = print) -> str:
    """Wipe the database and load the demo network, users and `cases` cases."""
    folder = country_folder(app.config)
    script = load_script(folder)
    engine = database.engine(app)
    clear_all(engine)
    session = database.factory(app)()
    try:
        network = load_network(session, app.config["PASSWORD_PROFILE"],
                               app.extensions["referral.protocol"].definition,
                               masters=app.extensions["referral.vault"].masters, folder=folder)
        session.commit()
        ctx = Context(session=session, protocol=app.extensions["referral.protocol"],
                      vault=app.extensions["referral.vault"], timezone=app.extensions["referral.timezone"],
                      blobs=app.extensions["referral.blobs"])
        if hasattr(script, "extras"):
            script.extras(ctx, network)  # what the demo shows beside cases (a plan, meetings)
        session.commit()
        generator = script.Cases(ctx, network, seed)
        for index in range(cases):
            generator.create(index)
            session.commit()
            if (index + 1) % 25 == 0 or index + 1 == cases:
                progress(f"  {index + 1}/{cases} demo cases")
    finally:
        session.close()
    return (f"demo loaded: {len(network.regions)} regions, {len(network.nodes)} nodes, {len(network.users)} users, "
            f"{cases} cases (seed {seed}). Every demo user's password: {DEMO_PASSWORD} (emails @{script.DOMAIN}). "
            "Accounts whose role requires a second factor also need a code: flask --app wsgi demo code EMAIL")
