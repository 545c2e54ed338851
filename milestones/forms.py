"""The milestone builder's forms. Field shapes here; plan rules in services.check_plan."""

from django import forms
from django.conf import settings

from gigs.forms import MoneyField
from gigs.models import Package
from marketplace.money import to_major

from .services import MilestoneInput, MilestoneTerms

TIERS = list(Package.TIER_ORDER)
TERM_FIELDS = ("included", "price", "delivery_days", "revisions")


class MilestoneForm(forms.Form):
    """One milestone: name, description, video call, and per package: included, price, days, revisions."""

    name = forms.CharField(max_length=settings.MARKETPLACE["MILESTONE_NAME_MAX_CHARS"], required=True)
    description = forms.CharField(
        max_length=settings.MARKETPLACE["MILESTONE_DESCRIPTION_MAX_CHARS"],
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "What the buyer receives at this stage"}),
    )
    video_call = forms.BooleanField(required=False, label="Video call")

    def __init__(self, *args, currency: str = "USD", **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency
        rules = settings.MARKETPLACE
        for tier in TIERS:
            label = Package.Tier(tier).label
            self.fields[f"{tier}_included"] = forms.BooleanField(required=False, label=f"In {label}")
            self.fields[f"{tier}_price"] = MoneyField(required=False, label=f"{label} price")
            self.fields[f"{tier}_delivery_days"] = forms.IntegerField(
                required=False, min_value=1, max_value=rules["PACKAGE_MAX_DELIVERY_DAYS"], label=f"{label} days"
            )
            self.fields[f"{tier}_revisions"] = forms.IntegerField(
                required=False, min_value=0, max_value=rules["PACKAGE_MAX_REVISIONS"], label=f"{label} revisions"
            )

    def clean(self):
        data = super().clean()
        for tier in TIERS:
            if not data.get(f"{tier}_included"):
                continue
            raw = data.get(f"{tier}_price")
            if raw in (None, ""):
                self.add_error(f"{tier}_price", "Enter a price for this package.")
            else:
                try:
                    data[f"{tier}_price_minor"] = self.fields[f"{tier}_price"].to_minor(raw, self.currency)
                except forms.ValidationError as exc:
                    self.add_error(f"{tier}_price", exc)
            if data.get(f"{tier}_delivery_days") is None:
                self.add_error(f"{tier}_delivery_days", "Enter the delivery days.")
            if data.get(f"{tier}_revisions") is None:
                data[f"{tier}_revisions"] = 0
        return data

    def to_input(self) -> MilestoneInput:
        d = self.cleaned_data
        return MilestoneInput(
            name=d["name"],
            description=d.get("description", ""),
            video_call=bool(d.get("video_call")),
            packages={
                tier: MilestoneTerms(d[f"{tier}_price_minor"], d[f"{tier}_delivery_days"], d[f"{tier}_revisions"])
                for tier in TIERS
                if d.get(f"{tier}_included")
            },
        )

    def tier_rows(self):
        """Bound fields per package for the grid in the template."""
        return [
            {"tier": tier, "label": Package.Tier(tier).label, **{f: self[f"{tier}_{f}"] for f in TERM_FIELDS}}
            for tier in TIERS
        ]


class BaseMilestoneFormSet(forms.BaseFormSet):
    default_error_messages = {
        "too_many_forms": "A plan has at most %(num)d milestones.",
        "too_few_forms": "Plan at least %(num)d milestones.",
    }

    def __init__(self, *args, currency: str = "USD", **kwargs):
        self.currency = currency
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        # Every posted row is a milestone: a blank one is an error, not silently dropped.
        return {**super().get_form_kwargs(index), "currency": self.currency, "empty_permitted": False}

    @property
    def empty_form(self):
        form = self.form(
            auto_id=self.auto_id,
            prefix=self.add_prefix("__prefix__"),
            empty_permitted=True,
            use_required_attribute=False,
            renderer=self.renderer,
            currency=self.currency,
        )
        self.add_fields(form, None)
        return form


def max_milestones() -> int:
    """MILESTONES_MAX, read when a request needs it (not at import), so a changed setting applies."""
    return settings.MARKETPLACE["MILESTONES_MAX"]


def min_milestones() -> int:
    return settings.MARKETPLACE["MILESTONES_MIN"]


class MilestoneFormSet(BaseMilestoneFormSet):
    """What `formset_factory(MilestoneForm, extra=0, max_num=MAX, absolute_max=MAX,
    validate_max=True)` would build, except that the maximum is read on each use rather than
    fixed when the module is imported."""

    form = MilestoneForm
    extra = 0
    min_num = 0
    validate_min = False
    validate_max = True
    can_order = False
    can_delete = False
    can_delete_extra = True
    renderer = None

    @property
    def max_num(self) -> int:
        return max_milestones()

    @property
    def absolute_max(self) -> int:
        return max_milestones()


def initial_from_inputs(milestones: list[MilestoneInput], currency: str) -> list[dict]:
    """Form initial values from inputs (a stored plan or a template)."""
    rows = []
    for m in milestones:
        row = {"name": m.name, "description": m.description, "video_call": m.video_call}
        for tier in TIERS:
            t = m.packages.get(tier)
            row[f"{tier}_included"] = t is not None
            if t is not None:
                price = t.price_minor if isinstance(t.price_minor, int) else None
                row[f"{tier}_price"] = "" if price is None else str(to_major(price, currency))
                row[f"{tier}_delivery_days"] = t.delivery_days
                row[f"{tier}_revisions"] = t.revisions
        rows.append(row)
    return rows


def raw_rows(data, prefix: str = "ms") -> list[dict]:
    """The posted milestones as raw values, in order, for the no-JavaScript add/remove/move
    buttons, which change the rows and re-render without saving."""
    try:
        total = min(int(data.get(f"{prefix}-TOTAL_FORMS", 0)), max_milestones() + 1)
    except ValueError:
        total = 0
    names = ["name", "description"] + [f"{t}_{f}" for t in TIERS for f in ("price", "delivery_days", "revisions")]
    checks = ["video_call"] + [f"{t}_included" for t in TIERS]
    rows = []
    for i in range(total):
        row = {n: data.get(f"{prefix}-{i}-{n}", "") for n in names}
        row.update({c: bool(data.get(f"{prefix}-{i}-{c}")) for c in checks})
        rows.append(row)
    return rows


def blank_row(number: int) -> dict:
    """A new milestone: named "Milestone N", empty description, in every package, no prices yet."""
    return {"name": f"Milestone {number}", "description": "", **{f"{t}_included": True for t in TIERS}}


class TemplateNameForm(forms.Form):
    template_name = forms.CharField(max_length=80, label="Template name")
