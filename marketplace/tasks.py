"""Kernel tasks: a beat heartbeat and a ping, used by the health page and the Celery test."""

import time

from celery import shared_task
from django.core.cache import cache

HEARTBEAT_KEY = "celery:beat:last"


@shared_task(acks_late=True, ignore_result=True)
def heartbeat_task() -> None:
    """Scheduled by beat every minute; its timestamp tells /healthz/ that beat and a worker run."""
    cache.set(HEARTBEAT_KEY, time.time(), timeout=None)


@shared_task(acks_late=True)
def ping_task(payload: str) -> dict:
    """Echo through a worker, with the database it sees: proves broker, worker and DB together."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        (one,) = cursor.fetchone()
    return {"echo": payload, "db": one == 1, "vendor": connection.vendor}
