from marketplace.exceptions import DomainError, ServiceUnavailable


class PaymentRefused(DomainError):
    """This order cannot be paid now (already paid, expired, cancelled)."""

    code = "payment_refused"
    http_status = 409


class SellerCannotReceive(DomainError):
    code = "seller_cannot_receive"
    http_status = 409


class ProviderUnavailable(ServiceUnavailable):
    """The payment provider could not be reached or failed: not a domain error. The API answers
    503 (marketplace.api); Celery retries with backoff."""

    code = "provider_unavailable"


class InvalidSignature(Exception):
    """A webhook body whose signature is missing, wrong or too old."""
