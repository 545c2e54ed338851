from marketplace.exceptions import DomainError


class PaymentRefused(DomainError):
    """This order cannot be paid now (already paid, expired, cancelled)."""

    code = "payment_refused"
    http_status = 409


class SellerCannotReceive(DomainError):
    code = "seller_cannot_receive"
    http_status = 409


class ProviderUnavailable(Exception):
    """The payment provider could not be reached or failed: not a domain error. The API answers
    503; Celery retries with backoff."""


class InvalidSignature(Exception):
    """A webhook body whose signature is missing, wrong or too old."""
