from marketplace.exceptions import DomainError


class TemplateNameTaken(DomainError):
    code = "template_name_taken"
    http_status = 409


class OrderRefused(DomainError):
    """The order cannot be placed (own gig, gig not on sale, no such package, ...)."""

    code = "order_refused"
    http_status = 409


class InvalidTransition(DomainError):
    code = "invalid_transition"
    http_status = 409


class RevisionsExhausted(DomainError):
    code = "revisions_exhausted"
    http_status = 409
