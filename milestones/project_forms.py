"""Forms of the project and offer pages (issue 7). They check the shape of the input (a number
is a number, a date is a date) and turn typed amounts into minor units; the rules spanning
fields and rows (budget range, dates in order, shares summing to 100 %, plan sizes, who may
do what) are the services' (milestones.project_services), whose errors the views put next to
the field or milestone row they name.

The milestone rows (the buyer's sketch, the seller's plan) are formsets whose every posted row
is a milestone: a blank row is an error, never silently dropped. Without JavaScript "Add a
milestone" and "Remove" post the page and the server rebuilds the rows (`raw_rows`); with it
(static/js/project-rows.js) the same buttons work in the page.
"""

from django import forms
from django.conf import settings

from gigs.forms import MoneyField
from gigs.models import Category, User
from marketplace.money import format_money, to_major, to_minor

from .project_models import Project
from .project_selectors import OfferMilestoneInput
from .project_services import ProjectMilestoneInput

SKETCH_PREFIX = "sk"
PLAN_PREFIX = "om"
INVITES_MAX = 20


def _rules() -> dict:
    return settings.MARKETPLACE


def max_rows() -> int:
    """MILESTONES_MAX, read on each request (a changed setting applies at once)."""
    return _rules()["MILESTONES_MAX"]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Any number of files (none included); count, size and type limits are the service's."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(f, initial) for f in files if f]


def apply_errors(form: forms.BaseForm, errors: dict[str, list[str]], field_map: dict[str, str]) -> None:
    """Service errors next to the field they name (through `field_map`), others on the form."""
    for key, messages in errors.items():
        field = field_map.get(key, key)
        for message in messages:
            form.add_error(field if field in form.fields else None, message)


# --- milestone rows ---------------------------------------------------------------------------


class RowFormSet(forms.BaseFormSet):
    """Rows of one milestone form; at most MILESTONES_MAX, read on each use."""

    extra = 0
    min_num = 0
    validate_min = False
    validate_max = True
    can_order = False
    can_delete = False
    can_delete_extra = True
    renderer = None
    default_error_messages = {"too_many_forms": "Use at most %(num)d milestones."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rows_errors: list[str] = []  # the service's errors about the rows as a whole

    @property
    def max_num(self) -> int:
        return max_rows()

    @property
    def absolute_max(self) -> int:
        # One more than allowed, so a post with too many rows is an error, not silently cut.
        return max_rows() + 1

    def get_form_kwargs(self, index):
        # Also used by Django's empty_form (index None), which then sets empty_permitted=True.
        return {**super().get_form_kwargs(index), "empty_permitted": False, "use_required_attribute": False}

    def apply_row_errors(self, errors: dict[str, list[str]], field_map: dict[str, str]) -> tuple[list[str], dict]:
        """`milestones.<i>.<field>` errors onto row i; returns (errors about the rows as a whole,
        the other errors)."""
        rows_errors: list[str] = []
        rest: dict[str, list[str]] = {}
        for key, messages in errors.items():
            parts = key.split(".")
            if parts[0] != "milestones":
                rest[key] = messages
            elif len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(self.forms):
                form = self.forms[int(parts[1])]
                name = field_map.get(parts[2], parts[2])
                for message in messages:
                    form.add_error(name if name in form.fields else None, message)
            else:
                rows_errors.extend(messages)
        return rows_errors, rest


def raw_rows(data, prefix: str, fields: list[str], checks: list[str] = ()) -> list[dict]:
    """The posted rows as typed, for the no-JavaScript add/remove buttons."""
    try:
        total = min(max(int(data.get(f"{prefix}-TOTAL_FORMS", 0)), 0), max_rows())
    except ValueError:
        total = 0
    rows = []
    for i in range(total):
        row = {name: data.get(f"{prefix}-{i}-{name}", "") for name in fields}
        row.update({name: bool(data.get(f"{prefix}-{i}-{name}")) for name in checks})
        rows.append(row)
    return rows


def restructure(data, prefix: str, rows: list[dict], blank: dict) -> tuple[list[dict], str]:
    """Apply `<prefix>_add` / `<prefix>_remove=<i>` to the rows; returns (rows, message)."""
    if f"{prefix}_add" in data:
        if len(rows) >= max_rows():
            return rows, f"Use at most {max_rows()} milestones."
        return [*rows, dict(blank)], ""
    value = data.get(f"{prefix}_remove", "")
    if value.isdigit() and int(value) < len(rows):
        rows = [r for i, r in enumerate(rows) if i != int(value)]
    return rows, ""


class SketchMilestoneForm(forms.Form):
    """One milestone of the buyer's sketch: name, what is delivered, share of the budget (a
    percentage, up to two decimals), target date."""

    name = forms.CharField(label="Name", max_length=80)
    description = forms.CharField(
        label="What is delivered",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    share = forms.CharField(
        label="Share of the budget (%)",
        max_length=7,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    target_date = forms.DateField(label="Target date", widget=DateInput())

    def clean_share(self) -> int:
        """ "25" or "33.33" (%) -> basis points (2500, 3333)."""
        try:
            return to_minor(self.cleaned_data["share"], "USD")  # percent with two decimals = bps
        except ValueError as exc:
            raise forms.ValidationError("Enter a percentage such as 25 or 33.33.") from exc

    def to_input(self) -> ProjectMilestoneInput:
        d = self.cleaned_data
        return ProjectMilestoneInput(
            name=d["name"], share_bps=d["share"], target_date=d["target_date"], description=d.get("description", "")
        )


class SketchFormSet(RowFormSet):
    # Not formset_factory: it would pin max_num / absolute_max / validate_max as class attributes.
    form = SketchMilestoneForm


SKETCH_FIELDS = ["name", "description", "share", "target_date"]
SKETCH_ERRORS = {"share_bps": "share"}


def sketch_rows(milestones) -> list[dict]:
    return [
        {
            "name": m.name,
            "description": m.description,
            "share": _major_text(m.share_bps, "USD"),  # basis points as a percentage: 3333 -> "33.33"
            "target_date": m.target_date,
        }
        for m in milestones
    ]


class ProjectForm(forms.Form):
    """A project's brief. Money typed in major units of the chosen currency."""

    BUDGET_CHOICES = [("fixed", "A fixed amount"), ("range", "A range")]

    title = forms.CharField(label="Title", max_length=100)
    description = forms.CharField(
        label="Description",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="What you need done, what you have already, and how you will judge the result.",
    )
    category = forms.ModelChoiceField(
        label="Category",
        queryset=Category.objects.order_by("position", "name"),
        empty_label="Choose a category…",
        help_text="Sellers with a gig in this category see the project (when it is public).",
    )
    currency = forms.ChoiceField(label="Currency")
    budget_type = forms.ChoiceField(label="Budget", choices=BUDGET_CHOICES, initial="fixed", widget=forms.RadioSelect)
    budget_min = MoneyField(label="Budget (least, or the fixed amount)", max_length=40)
    budget_max = MoneyField(label="Budget (most)", max_length=40, required=False, help_text="Only for a range.")
    start_date = forms.DateField(label="Start date", widget=DateInput())
    deadline = forms.DateField(label="Deadline", widget=DateInput())
    visibility = forms.ChoiceField(
        label="Who may send offers",
        choices=Project.Visibility.choices,
        initial=Project.Visibility.PUBLIC,
        widget=forms.RadioSelect,
    )
    invites = forms.CharField(
        label="Invite sellers",
        required=False,
        max_length=1000,
        help_text="Usernames, separated by commas or spaces. Needed for an invitation-only project.",
    )
    attachments = MultipleFileField(label="Attachments")

    def __init__(self, *args, buyer: User | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.buyer = buyer
        rules = _rules()
        self.fields["currency"].choices = [(c, c) for c in rules["CURRENCIES"]]
        self.fields["currency"].initial = rules["DEFAULT_CURRENCY"]
        self.fields["attachments"].help_text = (
            f"Up to {rules['UPLOAD_MAX_FILES']} files, {rules['UPLOAD_MAX_BYTES'] // (1024 * 1024)} MB each: "
            + ", ".join(rules["UPLOAD_EXTENSIONS"])
            + "."
        )

    def clean_invites(self) -> list[User]:
        names = [n.strip().lstrip("@") for n in self.cleaned_data["invites"].replace(",", " ").split()]
        names = list(dict.fromkeys(n for n in names if n))
        if len(names) > INVITES_MAX:
            raise forms.ValidationError(f"Invite at most {INVITES_MAX} sellers at once.")
        found = {u.username.lower(): u for u in User.objects.filter(username__in=names, is_active=True)}
        missing = [n for n in names if n.lower() not in found]
        if missing:
            raise forms.ValidationError(f"No seller with the username {', '.join(missing)}.")
        if self.buyer is not None and any(u.pk == self.buyer.pk for u in found.values()):
            raise forms.ValidationError("You cannot invite yourself.")
        return list(found.values())

    def clean(self):
        data = super().clean()
        currency = data.get("currency") or _rules()["DEFAULT_CURRENCY"]
        for name in ("budget_min", "budget_max"):
            raw = data.get(name)
            if raw in (None, ""):
                data[f"{name}_minor"] = None
                continue
            try:
                data[f"{name}_minor"] = self.fields[name].to_minor(raw, currency)
            except forms.ValidationError as exc:
                self.add_error(name, exc)
        if data.get("budget_type") == "range" and not data.get("budget_max") and "budget_max" not in self.errors:
            self.add_error("budget_max", "Enter the most you will pay, or choose a fixed amount.")
        invite_only = data.get("visibility") == Project.Visibility.INVITE_ONLY
        posting = "invites" in self.fields  # editing keeps the invitations already sent
        if posting and invite_only and not data.get("invites") and "invites" not in self.errors:
            self.add_error("invites", "Invite at least one seller to an invitation-only project.")
        return data

    def service_kwargs(self) -> dict:
        d = self.cleaned_data
        fixed = d["budget_type"] == "fixed"
        return {
            "title": d["title"],
            "description": d["description"],
            "category_id": d["category"].pk,
            "currency": d["currency"],
            "budget_min_minor": d["budget_min_minor"],
            "budget_max_minor": None if fixed else d["budget_max_minor"],
            "start_date": d["start_date"],
            "deadline": d["deadline"],
            "visibility": d["visibility"],
        }


class ProjectEditForm(ProjectForm):
    """The brief of an open project, edited (project_update): invitations and files have their
    own forms on the project page."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["invites"], self.fields["attachments"]


def project_initial(project: Project) -> dict:
    """ProjectEditForm's initial values from a stored project."""
    return {
        "title": project.title,
        "description": project.description,
        "category": project.category_id,
        "currency": project.currency,
        "budget_type": "fixed" if project.fixed_budget else "range",
        "budget_min": _major_text(project.budget_min_minor, project.currency),
        "budget_max": "" if project.fixed_budget else _major_text(project.budget_max_minor, project.currency),
        "start_date": project.start_date,
        "deadline": project.deadline,
        "visibility": project.visibility,
    }


PROJECT_ERRORS = {
    "budget_min_minor": "budget_min",
    "budget_max_minor": "budget_max",
    "category_id": "category",
}


class InviteForm(forms.Form):
    """Invite more sellers to an open project (the project page)."""

    invites = ProjectForm.base_fields["invites"]

    def __init__(self, *args, buyer: User | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.buyer = buyer
        self.fields["invites"].required = True
        self.fields["invites"].help_text = "Usernames, separated by commas or spaces."

    clean_invites = ProjectForm.clean_invites


class AttachForm(forms.Form):
    """More files for an open project's brief (the project page)."""

    files = MultipleFileField(label="Add files")


class CloseForm(forms.Form):
    reason = forms.CharField(
        label="Why close it? (optional)", required=False, max_length=300, help_text="Sellers with live offers are told."
    )


# --- offers -----------------------------------------------------------------------------------


class OfferMilestoneForm(forms.Form):
    """One milestone of a seller's offer. The price is typed in the project's currency."""

    name = forms.CharField(label="Name", max_length=80)
    description = forms.CharField(
        label="What is delivered", required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )
    price = MoneyField(label="Price", max_length=40)
    delivery_days = forms.IntegerField(label="Delivery (days)", min_value=1, max_value=999)
    revisions = forms.IntegerField(label="Revisions", min_value=0, max_value=99, required=False)
    video_call = forms.BooleanField(label="Video call", required=False)

    def __init__(self, *args, currency: str = "USD", **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.fields["price"].label = f"Price ({currency})"

    def clean(self):
        data = super().clean()
        raw = data.get("price")
        if raw:
            try:
                data["price_minor"] = self.fields["price"].to_minor(raw, self.currency)
            except forms.ValidationError as exc:
                self.add_error("price", exc)
            else:
                # The service refuses it too, in minor units; the page says it in money.
                least = _rules()["MILESTONE_MIN_PRICE_MINOR"]
                if data["price_minor"] < least:
                    self.add_error("price", f"Each milestone costs at least {format_money(least, self.currency)}.")
        if data.get("revisions") is None:
            data["revisions"] = 0
        return data

    def to_input(self) -> OfferMilestoneInput:
        d = self.cleaned_data
        return OfferMilestoneInput(
            name=d["name"],
            description=d.get("description", ""),
            price_minor=d["price_minor"],
            delivery_days=d["delivery_days"],
            revisions=d["revisions"],
            video_call=bool(d.get("video_call")),
        )


class OfferPlanFormSet(RowFormSet):
    def __init__(self, *args, currency: str = "USD", **kwargs):
        self.currency = currency
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "currency": self.currency}


class PlanFormSet(OfferPlanFormSet):
    form = OfferMilestoneForm


PLAN_FIELDS = ["name", "description", "price", "delivery_days", "revisions"]
PLAN_CHECKS = ["video_call"]
PLAN_ERRORS = {"price_minor": "price"}
BLANK_PLAN_ROW = {
    "name": "",
    "description": "",
    "price": "",
    "delivery_days": "",
    "revisions": "0",
    "video_call": False,
}


def _major_text(amount_minor: int, currency: str) -> str:
    """150 -> "150", 150.5 -> "150.50": what a person would type."""
    major = to_major(amount_minor, currency)
    return str(int(major)) if major == major.to_integral_value() else f"{major:f}"


def plan_rows(milestones, currency: str) -> list[dict]:
    """Row values from milestones (an offer's, or a prefill from a template or a gig)."""
    return [
        {
            "name": m.name,
            "description": m.description,
            "price": _major_text(m.price_minor, currency) if m.price_minor else "",
            "delivery_days": m.delivery_days,
            "revisions": m.revisions,
            "video_call": m.video_call,
        }
        for m in milestones
    ]


class OfferForm(forms.Form):
    message = forms.CharField(
        label="Message to the buyer",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="How you would do the work, and why you.",
    )
    expiry_days = forms.IntegerField(label="Offer open for (days)", min_value=1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        rules = _rules()
        most = rules["OFFER_MAX_EXPIRY_DAYS"]
        # Built here: the limits are settings read on each request, not at import.
        self.fields["expiry_days"] = forms.IntegerField(
            label="Offer open for (days)",
            min_value=1,
            max_value=most,
            initial=rules["OFFER_EXPIRY_DAYS"],
            help_text=f"1 to {most} days; after that the offer expires unless the buyer accepted it.",
        )


class DeclineForm(forms.Form):
    reason = forms.CharField(label="Reason (optional, told to the seller)", required=False, max_length=300)


class MessageForm(forms.Form):
    body = forms.CharField(label="Your message", max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))


class WithdrawForm(forms.Form):
    reason = forms.CharField(label="Reason (optional)", required=False, max_length=300)


class ProjectSearchForm(forms.Form):
    """The sellers' browse filters; budgets typed in major units of the default currency."""

    q = forms.CharField(label="Search", required=False, max_length=100)
    budget_min = MoneyField(label="Budget at least", required=False, max_length=40)
    budget_max = MoneyField(label="Budget at most", required=False, max_length=40)
    deadline_before = forms.DateField(label="Deadline by", required=False, widget=DateInput())

    def _money(self, name: str) -> int | None:
        raw = self.cleaned_data.get(name)
        if not raw:
            return None
        return self.fields[name].to_minor(raw, _rules()["DEFAULT_CURRENCY"])

    def clean_budget_min(self):
        return self._money("budget_min")

    def clean_budget_max(self):
        return self._money("budget_max")
