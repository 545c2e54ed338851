"""A real Celery worker process fed through the real Redis broker: no eager mode, no mocks.

The worker is started once for this module, consumes only a queue with a unique name (so no other
worker on the same Redis can take our tasks, and ours takes nobody else's), and reads the test
database that pytest-django created. Its email goes to files in a temporary folder.
"""

import email
import email.policy
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from gigs.models import Gig
from gigs.services import gig_publish
from gigs.tests.factories import GigFactory
from marketplace.celery import app as celery_app
from marketplace.tasks import ping_task

# Every test here needs the test database to exist (the worker connects to it), and committed
# rows (the worker reads them from another connection): hence transactional tests throughout.
pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 30
TASK_TIMEOUT = 30
MAIL_SEPARATOR = b"-" * 79


def _database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for the database pytest-django set up (its NAME is the test database)."""
    user, password = settings_dict.get("USER") or "", settings_dict.get("PASSWORD") or ""
    auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "") + ("@" if user else "")
    host, port = settings_dict.get("HOST") or "", settings_dict.get("PORT") or ""
    return f"postgres://{auth}{host}{f':{port}' if port else ''}/{quote(settings_dict['NAME'], safe='')}"


@dataclass
class Worker:
    process: subprocess.Popen
    queue: str
    nodename: str
    mail_dir: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else "(no log)"

    def wait_ready(self, timeout: float) -> None:
        """Poll the worker over the broker's control channel until it answers a ping."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited with {self.process.returncode}:\n{self.log()}")
            if celery_app.control.ping(destination=[self.nodename], timeout=0.5):
                return
        raise RuntimeError(f"celery worker not ready after {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # warm shutdown: finish the current task, then exit
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def emails(self) -> list[email.message.EmailMessage]:
        """Every message the worker has finished writing (the file backend ends each with a rule)."""
        messages = []
        for path in sorted(self.mail_dir.glob("*.log")):
            for chunk in path.read_bytes().split(MAIL_SEPARATOR + b"\n")[:-1]:
                messages.append(email.message_from_bytes(chunk, policy=email.policy.default))
        return messages

    def wait_for_emails(self, count: int, timeout: float) -> list[email.message.EmailMessage]:
        deadline = time.monotonic() + timeout
        while True:
            messages = self.emails()
            if len(messages) >= count:
                return messages
            if time.monotonic() >= deadline or self.process.poll() is not None:
                break
            time.sleep(0.1)
        pytest.fail(f"expected {count} email(s) from the worker within {timeout}s, got {len(messages)}")


@pytest.fixture(scope="module")
def celery_worker(django_db_setup, tmp_path_factory):
    """Start `celery -A marketplace worker` on a unique queue against the test database."""
    from django.db import connection

    # pytest-django only sets up the databases its collected tests ask for (see pytestmark).
    db_name = connection.settings_dict["NAME"]
    assert db_name == connection.settings_dict["TEST"].get("NAME") or db_name.startswith("test_"), db_name
    queue = f"test-worker-{uuid.uuid4().hex[:12]}"
    nodename = f"{queue}@{socket.gethostname()}"
    workdir = tmp_path_factory.mktemp("celery-worker")
    mail_dir = workdir / "mail"
    mail_dir.mkdir()
    log_path = workdir / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "marketplace.settings.test",
        "REDIS_URL": os.environ.get("REDIS_URL", celery_app.conf.broker_url),
        "DATABASE_URL": _database_url(connection.settings_dict),
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "marketplace",
        "worker",
        "--pool=solo",
        "--concurrency=1",
        "-l",
        "info",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-Q",
        queue,
        "-n",
        nodename,
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        worker = Worker(process=process, queue=queue, nodename=nodename, mail_dir=mail_dir, log_path=log_path)
        try:
            worker.wait_ready(STARTUP_TIMEOUT)
            yield worker
        finally:
            worker.stop()


@pytest.fixture(autouse=True)
def _worker_log_on_failure(request, celery_worker):
    """When a test here fails, show what the worker logged (it runs in another process)."""
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before:
        capture = request.config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled():
            print(f"\n----- celery worker log ({celery_worker.log_path}) -----\n{celery_worker.log()}")


@pytest.fixture
def tasks_to_worker_queue(celery_worker):
    """Send tasks queued without an explicit queue (`delay`, `delay_on_commit`) to our worker.

    The Celery app read its settings at import; the router looks the default queue up on every
    send, so changing the app's conf here is enough.
    """
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = celery_worker.queue
    yield celery_worker.queue
    celery_app.conf.task_default_queue = previous


def test_ping_task_round_trip_through_redis_and_the_worker(celery_worker):
    result = ping_task.apply_async(args=["hello"], queue=celery_worker.queue)

    assert result.get(timeout=TASK_TIMEOUT) == {"echo": "hello", "db": True, "vendor": "postgresql"}
    assert result.status == "SUCCESS"


def test_publishing_a_gig_emails_the_seller_from_the_worker(celery_worker, tasks_to_worker_queue):
    title = f"I will prove the worker sends mail {uuid.uuid4().hex[:8]}"
    gig = GigFactory(
        priced=True,
        title=title,
        description="Everything the buyer needs to know about this gig, in more than enough words. " * 3,
    )
    assert gig.status == Gig.Status.DRAFT

    # Not inside a test transaction: the publish commits, so delay_on_commit really sends.
    published = gig_publish(gig=gig)
    assert published.status == Gig.Status.PUBLISHED

    [message] = celery_worker.wait_for_emails(1, TASK_TIMEOUT)
    assert message["To"] == gig.seller.email
    assert message["Subject"] == f"Your gig is live: {title}"
    body = message.get_body().get_content()
    assert f"Hi {gig.seller.username}," in body
    assert f'Your gig "{title}" is now published' in body
    assert f"http://127.0.0.1:8000{gig.get_absolute_url()}" in body  # absolute: SITE_URL + path

    # Publishing again is a no-op and queues nothing: a ping on the same queue (handled in
    # order by the single solo worker) comes back while there is still exactly one email.
    gig_publish(gig=gig)
    assert ping_task.apply_async(args=["after"], queue=celery_worker.queue).get(timeout=TASK_TIMEOUT)["echo"] == "after"
    assert len(celery_worker.emails()) == 1
