"""Thin tasks: call a service."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def disputes_response_window_sweep_task() -> int:
    from .services import disputes_response_window_sweep

    return disputes_response_window_sweep()
