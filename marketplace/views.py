import time

from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse

from marketplace.tasks import HEARTBEAT_KEY


def healthz(request):
    """Liveness for operators: database, Redis, and how long ago beat last ran a task."""
    checks: dict[str, object] = {}
    status = 200
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - report any failure as unhealthy
        checks["database"] = f"error: {exc.__class__.__name__}"
        status = 503
    try:
        last = cache.get(HEARTBEAT_KEY)
        checks["redis"] = "ok"
        checks["beat_seconds_ago"] = None if last is None else round(time.time() - last)
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"error: {exc.__class__.__name__}"
        status = 503
    return JsonResponse(checks, status=status)
