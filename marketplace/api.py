"""API plumbing shared by every app: the exception handler that maps DomainError to JSON."""

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from marketplace.exceptions import DomainError, ValidationFailed


def exception_handler(exc, context):
    if isinstance(exc, ValidationFailed):
        return Response(exc.errors, status=exc.http_status)
    if isinstance(exc, DomainError):
        body = {"detail": exc.message, "code": exc.code}
        if exc.field:
            body["field"] = exc.field
        return Response(body, status=exc.http_status)
    return drf_exception_handler(exc, context)
