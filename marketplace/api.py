"""API plumbing shared by every app: the exception handler that maps DomainError to JSON, with a
service's ValidationFailed errors ("milestones.1.name") nested like the input."""

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from marketplace.exceptions import DomainError, ServiceUnavailable, ValidationFailed

NON_FIELD = "non_field_errors"


def nest_errors(errors: dict[str, list[str]]) -> dict:
    """Service keys like "milestones.1.packages.basic.price_minor" become nested dicts.

    A key can hold messages and children at once (one milestone with payments on and a bad name:
    "milestones" and "milestones.0.name"); its own messages then go under "non_field_errors", as
    DRF does for a nested serializer.
    """
    nested: dict = {}
    for key, messages in errors.items():
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {NON_FIELD: child} if child else {}
            node = child
        if isinstance(node.get(leaf), dict):
            node[leaf].setdefault(NON_FIELD, []).extend(messages)
        else:
            node[leaf] = list(messages)
    return nested


def exception_handler(exc, context):
    if isinstance(exc, ServiceUnavailable):
        body = {"detail": "A service we depend on cannot be reached. Try again later.", "code": exc.code}
        return Response(body, status=503, headers={"Retry-After": "30"})
    if isinstance(exc, ValidationFailed):
        return Response(nest_errors(exc.errors), status=exc.http_status)
    if isinstance(exc, DomainError):
        body = {"detail": exc.message, "code": exc.code}
        if exc.field:
            body["field"] = exc.field
        return Response(body, status=exc.http_status)
    return drf_exception_handler(exc, context)
