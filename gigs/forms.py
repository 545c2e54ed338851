"""Forms check single fields and shapes; rules spanning fields or rows live in services."""

from django import forms
from django.conf import settings
from django.contrib.auth.forms import UserCreationForm

from marketplace.exceptions import ValidationFailed
from marketplace.money import to_major, to_minor

from .models import Category, Gig, Package, User
from .selectors import ORDERINGS, PRICE_FILTER_MAX_MINOR
from .services import PackageInput


def apply_service_errors(form: forms.BaseForm, exc: ValidationFailed, field_map: dict | None = None) -> None:
    """Put each service error next to the form field it names, or on the form as a whole."""
    field_map = field_map or {}
    for key, messages in exc.errors.items():
        field = field_map.get(key, key)
        for message in messages:
            form.add_error(field if field in form.fields else None, message)


class SignupForm(UserCreationForm):
    email = forms.EmailField(help_text="For receipts and password resets; never shown to others.")
    display_name = forms.CharField(
        max_length=80, required=False, help_text="The name buyers see when you sell. Defaults to your username."
    )

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def clean_email(self):
        email = self.cleaned_data["email"]
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with that email already exists.")
        return email


class ProfileForm(forms.Form):
    display_name = forms.CharField(max_length=80)
    headline = forms.CharField(max_length=140, required=False)
    bio = forms.CharField(max_length=4000, required=False, widget=forms.Textarea(attrs={"rows": 5}))


class MoneyField(forms.CharField):
    """A price typed in major units ("25" or "25.50"), cleaned to integer minor units."""

    def __init__(self, *, currency_field: str = "currency", **kwargs):
        kwargs.setdefault("max_length", 12)
        super().__init__(**kwargs)
        self.widget.attrs.update({"inputmode": "decimal", "autocomplete": "off"})

    def to_minor(self, value: str, currency: str) -> int:
        try:
            return to_minor(value, currency)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


class GigSearchForm(forms.Form):
    """The catalog filters. Prices are typed in major units (dollars); the selector wants cents."""

    q = forms.CharField(required=False, max_length=100, label="Search")
    category = forms.SlugField(required=False)
    # Typed like any price (marketplace.money.to_minor) and cleaned to minor units; long enough
    # that a huge number is "too large" rather than "too many characters".
    min_price = MoneyField(required=False, max_length=40, label="Min price")
    max_price = MoneyField(required=False, max_length=40, label="Max price")
    ordering = forms.ChoiceField(
        required=False,
        choices=[
            ("newest", "Newest"),
            ("price", "Price: low to high"),
            ("-price", "Price: high to low"),
            ("title", "Title"),
        ],
    )

    def _clean_price(self, name: str) -> int | None:
        """The typed price in minor units of the default currency, or None when left empty."""
        raw = self.cleaned_data.get(name)
        if not raw:
            return None
        minor = self.fields[name].to_minor(raw, settings.MARKETPLACE["DEFAULT_CURRENCY"])
        if minor > PRICE_FILTER_MAX_MINOR:
            raise forms.ValidationError("That amount is too large.")
        return minor

    def clean_min_price(self) -> int | None:
        return self._clean_price("min_price")

    def clean_max_price(self) -> int | None:
        return self._clean_price("max_price")

    def clean(self):
        data = super().clean()
        lo, hi = data.get("min_price"), data.get("max_price")
        if lo is not None and hi is not None and lo > hi:
            self.add_error("max_price", "The maximum must not be below the minimum.")
        return data

    def selector_kwargs(self) -> dict:
        """Only the valid filters; an invalid one is shown as an error and ignored. Prices are
        already minor units here (see `_clean_price`)."""
        data = (
            self.cleaned_data
            if self.is_valid()
            else {k: v for k, v in getattr(self, "cleaned_data", {}).items() if k not in self.errors}
        )
        ordering = data.get("ordering") or "newest"
        return {
            "q": data.get("q") or "",
            "category": data.get("category") or "",
            "min_price_minor": data.get("min_price"),
            "max_price_minor": data.get("max_price"),
            "ordering": ordering if ordering in ORDERINGS else "newest",
        }


class GigOverviewForm(forms.Form):
    title = forms.CharField(
        min_length=Gig.TITLE_MIN_CHARS,
        max_length=100,
        help_text="Start with “I will…”, e.g. “I will design a minimalist logo”.",
    )
    category = forms.ModelChoiceField(queryset=Category.objects.all(), empty_label="Choose a category")


class PricingForm(forms.Form):
    """Three packages side by side; field names are `<tier>_<field>`."""

    currency = forms.ChoiceField(choices=[])
    FIELDS = ("name", "description", "price", "delivery_days", "revisions")

    def __init__(self, *args, derived: bool = False, **kwargs):
        """`derived`: a milestone plan sets price and delivery, so those fields are read-only."""
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = [(c, c) for c in settings.MARKETPLACE["CURRENCIES"]]
        self.fields["currency"].disabled = derived
        rules = settings.MARKETPLACE
        for tier in Package.TIER_ORDER:
            label = Package.Tier(tier).label
            self.fields[f"{tier}_name"] = forms.CharField(max_length=60, label=f"{label} name")
            self.fields[f"{tier}_description"] = forms.CharField(
                max_length=600, label=f"{label} description", widget=forms.Textarea(attrs={"rows": 3})
            )
            self.fields[f"{tier}_price"] = MoneyField(label=f"{label} price")
            self.fields[f"{tier}_delivery_days"] = forms.IntegerField(
                min_value=1, max_value=rules["PACKAGE_MAX_DELIVERY_DAYS"], label=f"{label} delivery days"
            )
            self.fields[f"{tier}_revisions"] = forms.IntegerField(
                min_value=0, max_value=rules["PACKAGE_MAX_REVISIONS"], label=f"{label} revisions"
            )
            if derived:
                for name in ("price", "delivery_days"):
                    self.fields[f"{tier}_{name}"].disabled = True
                    self.fields[f"{tier}_{name}"].help_text = "Sum of this package's milestones."

    @staticmethod
    def initial_for(gig) -> dict:
        initial = {"currency": gig.currency}
        for p in gig.packages.all():
            initial.update(
                {
                    f"{p.tier}_name": p.name,
                    f"{p.tier}_description": p.description,
                    f"{p.tier}_price": str(to_major(p.price_minor, p.currency)),
                    f"{p.tier}_delivery_days": p.delivery_days,
                    f"{p.tier}_revisions": p.revisions,
                }
            )
        return initial

    def clean(self):
        data = super().clean()
        currency = data.get("currency") or settings.MARKETPLACE["DEFAULT_CURRENCY"]
        for tier in Package.TIER_ORDER:
            raw = data.get(f"{tier}_price")
            if raw is None:
                continue
            try:
                data[f"{tier}_price_minor"] = self.fields[f"{tier}_price"].to_minor(raw, currency)
            except forms.ValidationError as exc:
                self.add_error(f"{tier}_price", exc)
        return data

    def package_inputs(self) -> list[PackageInput]:
        d = self.cleaned_data
        return [
            PackageInput(
                tier=tier,
                name=d[f"{tier}_name"],
                description=d[f"{tier}_description"],
                price_minor=d[f"{tier}_price_minor"],
                delivery_days=d[f"{tier}_delivery_days"],
                revisions=d[f"{tier}_revisions"],
            )
            for tier in Package.TIER_ORDER
        ]

    @staticmethod
    def service_field_map() -> dict[str, str]:
        mapping = {}
        for tier in Package.TIER_ORDER:
            for field in ("name", "description", "delivery_days", "revisions"):
                mapping[f"packages.{tier}.{field}"] = f"{tier}_{field}"
            mapping[f"packages.{tier}.price_minor"] = f"{tier}_price"
        return mapping

    def tiers(self):
        """Rows of bound fields per tier, for the side-by-side template."""
        return [
            {"tier": tier, "label": Package.Tier(tier).label, "fields": [self[f"{tier}_{f}"] for f in self.FIELDS]}
            for tier in Package.TIER_ORDER
        ]


class DescriptionForm(forms.Form):
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 10}),
        max_length=12000,
        required=False,
        help_text="What you deliver, how you work, and what you need from the buyer.",
    )


class FaqForm(forms.Form):
    question = forms.CharField(max_length=200, required=False)
    answer = forms.CharField(max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2}))


FaqFormSet = forms.formset_factory(FaqForm, extra=1, max_num=10, absolute_max=10, validate_max=True)


class RequirementForm(forms.Form):
    question = forms.CharField(max_length=200, required=False, label="Question")
    required = forms.BooleanField(required=False, label="Answer required")


RequirementFormSet = forms.formset_factory(
    RequirementForm, extra=1, max_num=settings.MARKETPLACE["GIG_MAX_REQUIREMENTS"], validate_max=True
)
