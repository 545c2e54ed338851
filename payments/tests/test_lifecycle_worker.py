"""The auto-release sweep driven the way production drives it: a real `celery beat` process sends
auto_release_sweep_task on its schedule, a real Celery worker runs it, through the real Redis
broker, against the test database. No eager mode, no direct calls.

The worker comes from marketplace/tests/test_celery_worker.py (one per module, on a queue of its
own). Beat is started here with a settings module written to a temporary folder: the test
settings, with a beat schedule of one entry (the sweep every second, sent to the worker's queue)
and a schedule file in the temporary folder. The review window is 0 days, so a delivery is due
for release as soon as it is made; the test polls the database until the worker released it.
"""

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from marketplace.tests import test_celery_worker as worker_module
from milestones.models import OrderMilestone
from payments.models import LedgerTransaction, Payout
from payments.tests.test_lifecycle import assert_books, deliver, fresh, milestones_of, paid_order, pin_rules
from payments.tests.test_tasks import drain, wait_until

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

# The worker's fixtures, reused as they are (fixtures are found by name in the test module).
celery_worker = worker_module.celery_worker
_worker_log_on_failure = worker_module._worker_log_on_failure

S = OrderMilestone.Status
BEAT_EVERY = 1.0  # seconds
RELEASE_TIMEOUT = 30

BEAT_SETTINGS = '''"""Beat for payments/tests/test_lifecycle_worker.py: the test settings, one schedule entry."""

from marketplace.settings.test import *  # noqa: F403

CELERY_BEAT_SCHEDULE = {{
    "auto-release-sweep": {{
        "task": "payments.tasks.auto_release_sweep_task",
        "schedule": {every},
        "options": {{"queue": {queue!r}}},
    }},
}}
CELERY_BEAT_SCHEDULE_FILENAME = {schedule!r}
'''


@dataclass
class Beat:
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else "(no log)"

    def sent(self) -> int:
        """How many times beat has sent the sweep so far."""
        return self.log().count("Sending due task auto-release-sweep")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture
def celery_beat(celery_worker, tmp_path, request):
    """`celery -A marketplace beat` sending the auto-release sweep every second to the worker."""
    workdir = tmp_path / "beat"
    workdir.mkdir()
    schedule_file = workdir / "celerybeat-schedule"
    (workdir / "lifecycle_beat_settings.py").write_text(
        BEAT_SETTINGS.format(every=BEAT_EVERY, queue=celery_worker.queue, schedule=str(schedule_file))
    )
    log_path = workdir / "beat.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "lifecycle_beat_settings",
        "PYTHONPATH": os.pathsep.join([str(workdir), str(worker_module.REPO_ROOT)]),
        "REDIS_URL": os.environ.get("REDIS_URL", worker_module.celery_app.conf.broker_url),
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "marketplace",
        "beat",
        "-s",
        str(schedule_file),
        "--max-interval",
        "1",
        "-l",
        "info",
    ]
    failed_before = request.session.testsfailed
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=worker_module.REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        beat = Beat(process=process, log_path=log_path)
        try:
            deadline = time.monotonic() + worker_module.STARTUP_TIMEOUT
            while beat.sent() == 0:  # up, and sending to the broker
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"celery beat did not start sending (exit {process.poll()}):\n{beat.log()}")
                time.sleep(0.1)
            yield beat
        finally:
            beat.stop()
            if request.session.testsfailed > failed_before:
                print(f"\n----- celery beat log ({log_path}) -----\n{beat.log()}")


@pytest.fixture(autouse=True)
def _rules(settings):
    pin_rules(settings, REVIEW_DAYS=0)  # a delivery is due for release as soon as it is made


def test_beat_and_a_worker_release_milestones_past_their_review_deadline(celery_worker, celery_beat):
    order = paid_order()
    m1, m2, m3 = milestones_of(order)

    deliver(m1)  # committed: the review deadline is now
    wait_until(lambda: fresh(m1).status == S.ACCEPTED, "release milestone 1", timeout=RELEASE_TIMEOUT)

    m1 = fresh(m1)
    assert m1.auto_accepted and m1.accepted_at is not None
    payout = Payout.objects.get(milestone=m1)
    assert (payout.amount_minor, payout.status) == (1600, Payout.Status.PENDING_CLEARANCE)
    assert fresh(m2).status == S.IN_PROGRESS

    # Beat keeps sending; the next delivery is released by a later run, the first never again.
    deliver(m2)
    wait_until(lambda: fresh(m2).status == S.ACCEPTED, "release milestone 2", timeout=RELEASE_TIMEOUT)
    sent = celery_beat.sent()
    wait_until(lambda: celery_beat.sent() >= sent + 2, "send the sweep twice more", timeout=10)
    drain(celery_worker)

    assert fresh(m2).auto_accepted and fresh(m3).status == S.IN_PROGRESS
    released = LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.MILESTONE_RELEASED)
    assert sorted(released.values_list("reference", flat=True)) == sorted(
        [f"milestone-{m1.pk}-released", f"milestone-{m2.pk}-released"]
    )
    assert Payout.objects.count() == 2
    assert "auto_release_sweep_task" in celery_worker.log() and "succeeded" in celery_worker.log()
    assert_books()
