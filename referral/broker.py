"""The embedded broker: kombu's SQLAlchemy transport on a SQLite file, polled ten times a second.

kombu's transport polls its table once a second, and with one message per worker process in
flight that second is lost after every task (a burst of 10,000 clocks took 100 s instead of 12 s);
its options all go to `create_engine`, so the interval is set here, on a subclass.
"""

from __future__ import annotations

from kombu.transport.sqlalchemy import Transport


class EmbeddedTransport(Transport):  # type: ignore[misc]
    polling_interval = 0.1
