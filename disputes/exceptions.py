from marketplace.exceptions import DomainError


class DisputeNotAllowed(DomainError):
    """The milestone cannot be disputed (not in progress, delivered or in revision; already
    released: disputes over money pending clearance are not built yet)."""

    code = "dispute_not_allowed"
    http_status = 409


class DisputeAlreadyOpen(DomainError):
    code = "dispute_already_open"
    http_status = 409


class DisputeClosed(DomainError):
    """The dispute is resolved or withdrawn, or not in the state this step needs."""

    code = "dispute_closed"
    http_status = 409


class ResponseWindowOver(DomainError):
    code = "response_window_over"
    http_status = 409


class SettlementRefused(DomainError):
    code = "settlement_refused"
    http_status = 409
