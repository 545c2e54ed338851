"""Checkout, the local provider's card page and the milestone actions of the order page. Forms
check the shape of the input; the services check the rules (required answers, who may order what,
who may act on a milestone now) and compute every amount."""

import uuid

from django import forms
from django.conf import settings

from marketplace.exceptions import ValidationFailed

ANSWER_MAX_CHARS = 2000


def answer_field_name(requirement_pk: int) -> str:
    return f"answer_{requirement_pk}"


class CheckoutForm(forms.Form):
    """The gig's requirement questions and the checkout token. There are no amount fields: the
    price comes from the gig on the server, so anything else posted is ignored."""

    checkout_token = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, requirements=(), **kwargs):
        kwargs.setdefault("initial", {}).setdefault("checkout_token", uuid.uuid4())
        super().__init__(*args, **kwargs)
        self.requirements = list(requirements)
        for req in self.requirements:
            # Whether an answer is required is the service's rule (checked on the server for the
            # API too); the field only marks it for the browser and assistive technology.
            attrs = {"rows": 3, "maxlength": ANSWER_MAX_CHARS}
            if req.required:
                attrs["aria-required"] = "true"
            self.fields[answer_field_name(req.pk)] = forms.CharField(
                label=req.question,
                required=False,
                strip=True,
                widget=forms.Textarea(attrs=attrs),
            )
            self.fields[answer_field_name(req.pk)].marked_required = req.required

    def answer_fields(self):
        return [self[answer_field_name(req.pk)] for req in self.requirements]

    def answers(self) -> dict[int, str]:
        return {req.pk: self.cleaned_data.get(answer_field_name(req.pk)) or "" for req in self.requirements}

    def apply_service_errors(self, exc: ValidationFailed) -> None:
        """The service's "requirements.<pk>" errors go next to their question; others on the form."""
        for key, messages in exc.errors.items():
            prefix, _, pk = key.partition(".")
            field = answer_field_name(int(pk)) if prefix == "requirements" and pk.isdigit() else None
            for message in messages:
                self.add_error(field if field in self.fields else None, message)


CARD_HELP = (
    "Test cards: 4242 4242 4242 4242 succeeds; 4000 0000 0000 0002 is declined; "
    "4000 0025 0000 3155 asks you to confirm the payment."
)


class CardForm(forms.Form):
    """The local provider's simulated card. Only the number decides the outcome; the expiry and
    CVC are asked for so the page looks like a real card form."""

    card_number = forms.CharField(
        label="Card number",
        max_length=23,
        help_text=CARD_HELP,
        widget=forms.TextInput(
            attrs={"autocomplete": "cc-number", "inputmode": "numeric", "placeholder": "1234 1234 1234 1234"}
        ),
    )
    expiry = forms.CharField(
        label="Expiry (MM/YY)",
        max_length=7,
        required=False,
        help_text="Any future date.",
        widget=forms.TextInput(attrs={"autocomplete": "cc-exp", "inputmode": "numeric", "placeholder": "MM/YY"}),
    )
    cvc = forms.CharField(
        label="CVC",
        max_length=4,
        required=False,
        help_text="Any three digits.",
        widget=forms.TextInput(attrs={"autocomplete": "cc-csc", "inputmode": "numeric", "placeholder": "123"}),
    )

    def clean_card_number(self) -> str:
        digits = "".join(ch for ch in self.cleaned_data["card_number"] if ch.isdigit())
        if not 12 <= len(digits) <= 19:
            raise forms.ValidationError("Enter the card number: 12 to 19 digits.")
        return digits


# --- the milestone lifecycle on the order page ------------------------------------------------------
# Each form checks only the shape of one action's input; milestones.lifecycle and payments.lifecycle
# check who may act, the state, the revision allowance and the upload limits (and say why not).

DELIVERY_MESSAGE_MAX = 5000
REASON_MAX = 2000


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Any number of files (none included). Count, size and type limits are the service's
    (settings UPLOAD_*), so the page and the API give the same answer."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        cleaned = []
        for f in data if isinstance(data, list | tuple) else [data]:
            if f:
                cleaned.append(super().clean(f, initial))
        return cleaned


class ApplyServiceErrors:
    def apply_service_errors(self, errors: dict[str, list[str]]) -> None:
        """A service's field errors next to their field; any other key on the form."""
        for key, messages in errors.items():
            for message in messages:
                self.add_error(key if key in self.fields else None, message)


class ActionForm(ApplyServiceErrors, forms.Form):
    """An action without input (accept, answer a request): the button is the whole form."""


class DeliverForm(ApplyServiceErrors, forms.Form):
    message = forms.CharField(
        label="Message to the buyer",
        max_length=DELIVERY_MESSAGE_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="What you deliver and anything the buyer should know.",
    )
    files = MultipleFileField(label="Files")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        rules = settings.MARKETPLACE
        self.fields["files"].help_text = (
            f"Up to {rules['UPLOAD_MAX_FILES']} files, {rules['UPLOAD_MAX_BYTES'] // (1024 * 1024)} MB each: "
            + ", ".join(rules["UPLOAD_EXTENSIONS"])
            + "."
        )


class RevisionForm(ApplyServiceErrors, forms.Form):
    reason = forms.CharField(
        label="What should change?",
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class CancellationRequestForm(ApplyServiceErrors, forms.Form):
    reason = forms.CharField(
        label="Why cancel this milestone?",
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class ConfirmForm(ApplyServiceErrors, forms.Form):
    """A money action that cannot be undone: the box states what happens (set by the page)."""

    confirm = forms.BooleanField(label="I understand", error_messages={"required": "Tick the box to confirm."})

    def __init__(self, *args, label: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        if label:
            self.fields["confirm"].label = label
