"""The parties' dispute forms. They check the shape of the input and parse typed amounts (major
units, "12.50", as every price on the site); disputes.services checks the rules (who may act, the
state, the response window, amounts against the milestone's price, the upload limits) and says why
not. A service's field errors come back next to their field (`apply_service_errors`)."""

from django import forms
from django.conf import settings

from gigs.forms import MoneyField
from marketplace.money import format_money
from payments.forms import MultipleFileField

from .models import Dispute

TEXT_MAX = 5000
# The services name amounts in minor units; the pages ask for major units in these fields.
SERVICE_FIELDS = {"amount_wanted_minor": "amount_wanted", "seller_amount_minor": "seller_amount"}


def files_help() -> str:
    rules = settings.MARKETPLACE
    return (
        f"Optional. Up to {rules['UPLOAD_MAX_FILES']} files, {rules['UPLOAD_MAX_BYTES'] // (1024 * 1024)} MB each: "
        + ", ".join(rules["UPLOAD_EXTENSIONS"])
        + "."
    )


class DisputeForm(forms.Form):
    def apply_service_errors(self, errors: dict[str, list[str]]) -> None:
        """A service's field errors next to their field (amounts renamed); others on the form."""
        for key, messages in errors.items():
            field = SERVICE_FIELDS.get(key, key)
            for message in messages:
                self.add_error(field if field in self.fields else None, message)


class DisputeOpenForm(DisputeForm):
    reason = forms.ChoiceField(
        label="Reason",
        choices=[("", "Choose a reason"), *Dispute.Reason.choices],
        error_messages={"required": "Choose a reason."},
    )
    description = forms.CharField(
        label="What went wrong?",
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="What was agreed, what you received, and what you tried already.",
        error_messages={"required": "Describe the problem."},
    )
    outcome_wanted = forms.ChoiceField(
        label="Outcome you want",
        choices=Dispute.Outcome.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose the outcome you want."},
    )
    amount_wanted = MoneyField(
        label="Amount to refund",
        required=False,
        max_length=40,
        help_text="Only for a partial refund.",
    )
    files = MultipleFileField(label="Evidence files")

    def __init__(self, *args, milestone=None, currency: str, price_minor: int | None = None, **kwargs):
        """`milestone` for a milestone dispute; `price_minor` (what it would hold) for the whole order."""
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.price_minor = milestone.price_minor if milestone is not None else price_minor
        what = "the milestone's price" if milestone is not None else "what the order dispute holds"
        self.fields[
            "amount_wanted"
        ].help_text = f"Only for a partial refund: up to {format_money(self.price_minor, currency)}, {what}."
        self.fields["files"].help_text = files_help()

    def clean_amount_wanted(self) -> int | None:
        raw = self.cleaned_data.get("amount_wanted")
        if not raw:
            return None
        return self.fields["amount_wanted"].to_minor(raw, self.currency)

    def clean(self):
        data = super().clean()
        if data.get("outcome_wanted") == Dispute.Outcome.PARTIAL_REFUND:
            if "amount_wanted" in data and not data["amount_wanted"]:
                self.add_error("amount_wanted", "Say how much you want refunded.")
        else:
            # An amount typed before switching to another outcome means nothing.
            data["amount_wanted"] = None
        return data


class RespondForm(DisputeForm):
    statement = forms.CharField(
        label="Your answer",
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Your side of it: the platform reads both statements before deciding.",
        error_messages={"required": "Write your answer."},
    )
    files = MultipleFileField(label="Evidence files")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["files"].help_text = files_help()


class MessageForm(DisputeForm):
    body = forms.CharField(
        label="Message",
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Write a message."},
    )
    files = MultipleFileField(label="Files")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["files"].help_text = files_help()


class OfferForm(DisputeForm):
    seller_amount = MoneyField(
        label="Amount to the seller",
        max_length=40,
        error_messages={"required": "Enter the amount for the seller (0 for a full refund)."},
    )

    def __init__(self, *args, milestone=None, currency: str, price_minor: int | None = None, **kwargs):
        """`milestone`, or the amount at stake (`price_minor`) of an order dispute."""
        super().__init__(*args, **kwargs)
        self.currency = currency
        price = format_money(milestone.price_minor if milestone is not None else price_minor, currency)
        self.fields[
            "seller_amount"
        ].help_text = f"From {format_money(0, currency)} to {price}; the rest of the {price} is refunded to the buyer."

    def clean_seller_amount(self) -> int:
        return self.fields["seller_amount"].to_minor(self.cleaned_data["seller_amount"], self.currency)


class WithdrawForm(DisputeForm):
    note = forms.CharField(
        label="Why you withdraw it (optional)",
        max_length=TEXT_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
