"""Real Celery processes for the clock tests: a worker and beat started with `celery -A referral.worker`
against the test's own database, on Redis or on the embedded SQLAlchemy broker, killed for real.

Redis is the machine's (127.0.0.1:6379; one database number per xdist worker, flushed by the test
that owns it) or a private redis-server on a free port for the restart test.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from ..conftest import IN_CI, MASTER_KEY

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
ROOT = Path(__file__).resolve().parents[2]
SWEEP_SECONDS = 0.5
LEASE_SECONDS = 3


def redis_db() -> int:
    """A Redis database number of this xdist worker's own (tests in one worker run one at a time)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    return 8 + int(worker or 0) % 8


def require_redis(url: str) -> redis.Redis:
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError:
        message = f"Redis is not reachable at {url}"
        if IN_CI:
            pytest.fail(f"{message}, and CI=true requires it", pytrace=False)
        pytest.skip(f"{message}: the Celery tests on Redis are skipped (start redis-server, or set TEST_REDIS_URL)")
    return client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float = 60, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Celery:
    """Worker and beat processes for one test; every process is killed at the end."""

    def __init__(self, database_url: str, folder: Path, broker: str, extra: dict[str, str] | None = None):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.logs: list[Path] = []
        self.processes: list[subprocess.Popen[bytes]] = []
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url, "REFERRAL_INSTANCE_PATH": str(folder / "instance"),
            "REFERRAL_MASTER_KEY": MASTER_KEY, "REFERRAL_SECRET_KEY": "test-secret", "REFERRAL_RATELIMIT": "off",
            "REFERRAL_SWEEP_SECONDS": str(SWEEP_SECONDS), "REFERRAL_CLOCK_LEASE_SECONDS": str(LEASE_SECONDS),
            "REFERRAL_BROKER_URL": broker, "REFERRAL_RESULT_BACKEND": "cache+memory://",
            "PYTHONPATH": str(ROOT),
            **(extra or {}),
        }
        self.env.pop("REDIS_URL", None)

    def _start(self, name: str, *arguments: str) -> subprocess.Popen[bytes]:
        log = self.folder / f"{name}-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as output:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "referral.worker", *arguments, "--loglevel", "INFO"],
                cwd=ROOT, env=self.env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.processes.append(process)
        return process

    def worker(self, concurrency: int = 1, queues: str | None = None) -> subprocess.Popen[bytes]:
        """A worker of every queue, or (`queues`, as production runs them) of those named only."""
        chosen = ["-Q", queues, "--hostname", f"{queues.replace(',', '-')}-{len(self.logs)}@%h"] if queues else []
        return self._start(f"worker-{queues.replace(',', '-')}" if queues else "worker", "worker", *chosen,
                           "--concurrency", str(concurrency), "--pool", "prefork",
                           "--without-gossip", "--without-mingle", "--without-heartbeat")

    def beat(self) -> subprocess.Popen[bytes]:
        return self._start("beat", "beat", "--schedule", str(self.folder / f"beat-{len(self.logs)}.db"))

    @staticmethod
    def kill(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        """Kill the process and its children (the prefork pool) at once, as a crash would."""
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                self.kill(process, signal.SIGKILL)

    def log_of(self, process: subprocess.Popen[bytes]) -> str:
        """What one process said (its own log file)."""
        return self.logs[self.processes.index(process)].read_text(errors="replace")

    def log_text(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.logs if path.exists())


@contextmanager
def celery_processes(database_url: str, folder: Path, broker: str, **extra: str) -> Iterator[Celery]:
    celery = Celery(database_url, folder, broker, extra)
    try:
        yield celery
    except BaseException:
        print(celery.log_text()[-6000:], file=sys.stderr)  # what the worker said, when a test fails
        raise
    finally:
        celery.stop_all()


class RedisServer:
    """A private redis-server that keeps nothing on disk, so a restart loses every message."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if IN_CI:
                pytest.fail("redis-server is not installed, and CI=true requires it", pytrace=False)
            pytest.skip("redis-server is not installed: the Redis restart test is skipped")
        self.binary, self.folder, self.port = binary, folder, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        client = redis.Redis.from_url(self.url)
        wait_for(lambda: _pings(client), 20, "the private redis-server")

    def crash(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.crash()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


class HangingSMTP:
    """An SMTP server (aiosmtpd) that can be told to never answer the first message it receives, so a
    worker can be killed in the middle of sending it, or (`hang_all`) any message: a mail server that
    has stopped answering. Only answered (250) messages count as sent."""

    def __init__(self, hang_first: bool = False, hang_all: bool = False) -> None:
        from aiosmtpd.controller import Controller

        self.hang_first, self.hang_all = hang_first, hang_all
        self.hanging = threading.Event()
        self.received: list[bytes] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.hang_first or self.hang_all:
            self.hang_first = False
            self.hanging.set()
            await asyncio.sleep(3600)  # the worker is killed while it waits for our answer
        self.received.append(envelope.original_content or envelope.content)
        return "250 OK"

    def settings(self) -> dict[str, str]:
        return {"REFERRAL_SMTP_HOST": "127.0.0.1", "REFERRAL_SMTP_PORT": str(self.port),
                "REFERRAL_SMTP_SECURITY": "none", "REFERRAL_SMTP_TIMEOUT_SECONDS": "3600",
                "REFERRAL_BASE_URL": "https://protocolo.example.cl"}

    def __enter__(self) -> HangingSMTP:
        self.controller.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.controller.stop()
