"""The Celery application of a Flask application (the pattern of Flask's own documentation).

Built by create_app; the worker and beat processes load it through referral/worker.py.

Two queues: `clocks` (the sweep and the clock runs, which write the in-app notifications) and `mail`
(the e-mails of notifications and password resets, whose SMTP conversations may be slow or hang for
their timeout). Production and
bin/start run one worker for each (`-Q clocks`, `-Q mail`), so a slow mail server never holds a
clock back; a worker started without -Q consumes both (a development convenience).
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from flask import Flask
from kombu import Queue

CLOCKS_QUEUE = "clocks"  # referral.clocks.sweep and referral.clocks.run
MAIL_QUEUE = "mail"  # referral.clocks.email and referral.auth.reset_link: every task that talks SMTP
RECONCILE_SECONDS = 15 * 60.0  # referral.worklists.reconcile (referral/cases/worklists.py)


def broker_settings(url: str) -> tuple[str, str | None]:
    """The broker URL and transport for Celery: `sqla+...` is the embedded broker, on our subclass
    of kombu's SQLAlchemy transport that polls faster (referral/broker.py)."""
    if url.startswith("sqla+"):
        return url.removeprefix("sqla+"), "referral.broker:EmbeddedTransport"
    return url, None


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    config = app.config
    celery = Celery(app.import_name, task_cls=FlaskTask)
    broker, transport = broker_settings(str(config["CELERY_BROKER_URL"]))
    lease = int(config["CLOCK_LEASE_SECONDS"])
    redis = str(config["CELERY_BROKER_URL"]).startswith(("redis://", "rediss://"))
    celery.conf.update(
        broker_url=broker,
        broker_transport=transport,
        result_backend=config["CELERY_RESULT_BACKEND"],
        task_ignore_result=True,
        # A task is acknowledged only when it has finished; a worker killed mid-task leaves its
        # message to be delivered again (and the database lease hands the clock out again anyway).
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_queues=(Queue(CLOCKS_QUEUE), Queue(MAIL_QUEUE)),
        task_default_queue=CLOCKS_QUEUE,
        task_routes={"referral.clocks.email": {"queue": MAIL_QUEUE}, "referral.auth.reset_link": {"queue": MAIL_QUEUE}},
        broker_connection_retry_on_startup=True,
        # Redis redelivers a message no worker acknowledged within the lease. (The embedded SQLAlchemy
        # transport hands its options to create_engine, so it gets none; the lease covers it.)
        broker_transport_options={"visibility_timeout": lease} if redis else {},
        beat_schedule={
            "sweep-clocks": {"task": "referral.clocks.sweep", "schedule": float(config["CLOCK_SWEEP_SECONDS"]),
                             "options": {"expires": float(config["CLOCK_SWEEP_SECONDS"]) * 2}},
            "reconcile-worklists": {"task": "referral.worklists.reconcile", "schedule": RECONCILE_SECONDS,
                                    "options": {"expires": RECONCILE_SECONDS}},
        },
        beat_schedule_filename=config["CELERY_BEAT_SCHEDULE_FILE"],
        timezone="UTC",
        enable_utc=True,
        worker_hijack_root_logger=False,
        imports=("referral.tasks",),
        include=("referral.tasks",),
    )
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
