from marketplace.exceptions import DomainError, ValidationFailed


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


# --- buyer projects and custom offers (issue 7) ----------------------------------------------------


class ProjectInvalid(ValidationFailed):
    """A project's fields break a rule (budget, dates, sketch milestones, invitations); `errors`
    is keyed like the input (`budget_max_minor`, `milestones.2.share_bps`)."""

    code = "project_invalid"


class OfferPlanInvalid(ValidationFailed):
    """An offer's message or milestone plan breaks a rule (more than MILESTONES_MAX milestones,
    a zero price, an expiry in the past, ...); `errors` keyed like the input (`milestones.0.price_minor`)."""

    code = "offer_plan_invalid"


class ProjectNotOpen(DomainError):
    """The project takes no offers or acceptances now (an offer was accepted, or it is closed)."""

    code = "project_not_open"
    http_status = 409


class OfferRefused(DomainError):
    """This user may not send an offer on this project (their own project)."""

    code = "offer_refused"
    http_status = 409


class OfferExists(DomainError):
    """The seller already has a live (or accepted) offer on this project: revise that one."""

    code = "offer_exists"
    http_status = 409


class OfferNotLive(DomainError):
    """The offer was withdrawn, declined, not selected, removed or has expired: nothing more can
    happen to it (revise, withdraw, decline, accept)."""

    code = "offer_not_live"
    http_status = 409


class OfferExpired(OfferNotLive):
    """The offer's expiry passed (the sweep may not have marked it yet)."""

    code = "offer_expired"


class OfferRevised(DomainError):
    """The buyer accepted a version of the offer that the seller has revised since (the checkout
    page or the API call named an older `revision`): nothing is placed, the buyer checks the new one."""

    code = "offer_revised"
    http_status = 409


class NotModerator(DomainError):
    """Moderation services (project_close by a moderator, offer_remove) need a staff user."""

    code = "not_moderator"
    http_status = 403
