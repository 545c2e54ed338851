"""The domain error base. Each app subclasses it with its own code and HTTP status.

The API turns a DomainError into {"detail": message, "code": code} with `http_status`; pages add
it to the form as a non-field error; admin shows it with message_user; Celery logs it and stops.
"""


class DomainError(Exception):
    code = "domain_error"
    http_status = 409

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # When a rule concerns one input field, pages and the API attach the error to it.
        self.field = field


class NotFound(DomainError):
    """Someone else's (or a missing) object: always a 404, never a hint that it exists."""

    code = "not_found"
    http_status = 404


class ValidationFailed(DomainError):
    """A service rejected its input. `errors` maps field names to lists of messages."""

    code = "invalid"
    http_status = 400

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(_first_message(errors) or "Invalid input.")
        self.errors = errors


def _first_message(errors) -> str | None:
    """The first message in a (possibly nested) dict/list of errors, for logs and summaries."""
    if isinstance(errors, str):
        return errors
    values = errors.values() if isinstance(errors, dict) else errors
    for value in values:
        found = _first_message(value)
        if found:
            return found
    return None


class ServiceUnavailable(Exception):
    """An outside service (the payment provider) failed or could not be reached: not a domain
    error. The API answers 503 {"detail", "code": "service_unavailable"}; Celery retries."""

    code = "service_unavailable"
