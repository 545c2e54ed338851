from marketplace.exceptions import DomainError


class GigIncomplete(DomainError):
    """Publishing a gig that is missing something buyers need. `problems` lists what."""

    code = "gig_incomplete"
    http_status = 409

    def __init__(self, problems: list[str]) -> None:
        super().__init__("This gig cannot be published yet: " + " ".join(problems))
        self.problems = problems


class InvalidGigTransition(DomainError):
    code = "invalid_transition"
    http_status = 409
