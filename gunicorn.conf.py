"""gunicorn's settings for the web process: `gunicorn -c gunicorn.conf.py wsgi:app` (README, *In production*).

Read from the environment (not REFERRAL_*: those belong to the application, which refuses names it does
not know):
- WEB_BIND: where to listen (default 127.0.0.1:8000: plain HTTP for the reverse proxy on this host);
- WEB_CONCURRENCY: worker processes (default 2 × cores + 1, at most MAX_WORKERS). Each worker keeps its
  own database pool (up to 15 connections), so 8 workers may hold 120: raise PostgreSQL's
  max_connections, or lower this, before going past it.
"""

from __future__ import annotations

import os

MAX_WORKERS = 8


def _workers() -> int:
    given = os.environ.get("WEB_CONCURRENCY", "").strip()
    if given:
        count = int(given)
        if count < 1:
            raise ValueError(f"WEB_CONCURRENCY must be at least 1, not {given}")
        return count
    return min(2 * (os.cpu_count() or 1) + 1, MAX_WORKERS)


bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")
workers = _workers()
worker_class = "sync"  # pages are short and CPU-bound; the proxy in front buffers slow clients

# A worker silent this long is killed and replaced (the slowest pages, the auditors' exports of up to 5,000
# cases, take a few seconds); on restart or shutdown, a worker finishes its requests within graceful_timeout.
timeout = 60
graceful_timeout = 30
keepalive = 5  # seconds an idle connection from the proxy stays open for its next request
# Replace each worker after about this many requests (spread, so they do not all restart together).
max_requests = 5000
max_requests_jitter = 500

# Forwarded headers are trusted in one place only: the application's ProxyFix, as many hops as
# REFERRAL_TRUSTED_PROXIES says (referral/__init__.py). gunicorn itself believes none of them (its default
# would believe X-Forwarded-Proto from any connection from 127.0.0.1).
forwarded_allow_ips = ""
secure_scheme_headers: dict[str, str] = {}

# Access log on standard output, without query strings, client addresses, referrers or browsers: time,
# method, path, protocol, status, bytes, milliseconds. Our URLs carry only references and random ids
# (never a name or a document number), and search terms travel in POST bodies, but a query string is
# where personal data would slip in first, so none is logged.
accesslog = "-"
access_log_format = '%(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
loglevel = "info"
