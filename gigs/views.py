"""Catalog and seller pages. Views parse input with forms and hand every write to services."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from rest_framework.authtoken.models import Token

from marketplace.exceptions import NotFound, ValidationFailed

from . import hooks, selectors, services
from .exceptions import GigIncomplete, InvalidGigTransition
from .forms import (
    GigOverviewForm,
    GigSearchForm,
    PricingForm,
    ProfileForm,
    RequirementFormSet,
    SignupForm,
    apply_service_errors,
)
from .models import Gig

EDIT_STEPS = [
    ("overview", "Overview"),
    ("pricing", "Pricing"),
    ("description", "Description & FAQ"),
    ("requirements", "Requirements"),
]


def home(request):
    gigs = selectors.gig_list_public()[:8]
    return render(request, "gigs/home.html", {"gigs": gigs, "categories": selectors.category_list()})


def gig_list(request):
    form = GigSearchForm(request.GET or None)
    if form.is_bound:
        form.is_valid()
        filters = form.selector_kwargs()
    else:
        filters = {}
    page = Paginator(selectors.gig_list_public(**filters), settings.MARKETPLACE["GIG_PAGE_SIZE"]).get_page(
        request.GET.get("page")
    )
    categories = list(selectors.category_list())
    current = next((c for c in categories if c.slug == filters.get("category")), None)
    return render(
        request,
        "gigs/gig_list.html",
        {"form": form, "page": page, "gigs": page.object_list, "categories": categories, "current_category": current},
    )


def gig_detail(request, slug):
    try:
        gig = selectors.gig_get_for_viewer(slug=slug, user=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    packages = sorted(gig.packages.all(), key=lambda p: p.rank)
    return render(
        request,
        "gigs/gig_detail.html",
        {
            "gig": gig,
            "packages": packages,
            "is_owner": gig.seller_id == request.user.id,
            **hooks.gig_detail_context(gig, request),
        },
    )


@login_required
def my_gigs(request):
    return render(request, "gigs/my_gigs.html", {"gigs": selectors.gig_list_for_seller(seller=request.user)})


def owned_gig_or_404(request, pk: int) -> Gig:
    try:
        return selectors.gig_get_for_owner(user=request.user, pk=pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def render_editor_step(request, gig, step, context):
    return render(
        request,
        f"gigs/edit_{step}.html",
        {
            "gig": gig,
            "step": step,
            "steps": EDIT_STEPS,
            "problems": services.gig_publish_problems(gig) if gig else [],
            **context,
        },
    )


@login_required
def gig_create(request):
    form = GigOverviewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            gig = services.gig_create(
                seller=request.user, title=form.cleaned_data["title"], category=form.cleaned_data["category"]
            )
        except ValidationFailed as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, "Draft saved. Now set your packages.")
            return redirect("gig-edit", pk=gig.pk, step="pricing")
    return render_editor_step(request, None, "overview", {"form": form})


@login_required
def gig_edit(request, pk, step):
    gig = owned_gig_or_404(request, pk)
    if step == "overview":
        return _edit_overview(request, gig)
    if step == "pricing":
        return _edit_pricing(request, gig)
    if step == "requirements":
        return _edit_requirements(request, gig)
    # The Description & FAQ step (with the milestone builder) is served by milestones.views.
    raise Http404("No such step.")


def _next_step(gig, step):
    names = [s for s, _ in EDIT_STEPS]
    i = names.index(step)
    if i + 1 < len(names):
        return redirect("gig-edit", pk=gig.pk, step=names[i + 1])
    return redirect("gig-edit", pk=gig.pk, step=step)


def _edit_overview(request, gig):
    form = GigOverviewForm(request.POST or None, initial={"title": gig.title, "category": gig.category_id})
    if request.method == "POST" and form.is_valid():
        try:
            services.gig_update_overview(
                gig=gig, title=form.cleaned_data["title"], category=form.cleaned_data["category"]
            )
        except ValidationFailed as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, "Overview saved.")
            return _next_step(gig, "overview")
    return render_editor_step(request, gig, "overview", {"form": form})


def _edit_pricing(request, gig):
    form = PricingForm(request.POST or None, initial=PricingForm.initial_for(gig), derived=gig.prices_from_plan)
    if request.method == "POST" and form.is_valid():
        try:
            services.gig_set_packages(gig=gig, packages=form.package_inputs(), currency=form.cleaned_data["currency"])
        except ValidationFailed as exc:
            apply_service_errors(form, exc, PricingForm.service_field_map())
        else:
            messages.success(request, "Packages saved.")
            return _next_step(gig, "pricing")
    return render_editor_step(request, gig, "pricing", {"form": form})


def _edit_requirements(request, gig):
    """The questions buyers answer at checkout. A row with an empty question is dropped; "Add a
    question" adds an empty row without saving (works without JavaScript)."""
    if request.method != "POST":
        initial = [{"question": r.question, "required": r.required} for r in gig.requirements.all()]
        formset = RequirementFormSet(prefix="req", initial=initial)
        return render_editor_step(request, gig, "requirements", {"formset": formset})
    if "add_requirement" in request.POST:
        data = request.POST.copy()
        total = data.get("req-TOTAL_FORMS", "")
        data["req-TOTAL_FORMS"] = str(min(int(total) + 1 if total.isdigit() else 1, RequirementFormSet.max_num))
        return render_editor_step(request, gig, "requirements", {"formset": RequirementFormSet(data, prefix="req")})
    formset = RequirementFormSet(request.POST, prefix="req")
    if formset.is_valid():
        rows = [
            (f.cleaned_data["question"], bool(f.cleaned_data.get("required")))
            for f in formset.forms
            if f.cleaned_data.get("question", "").strip()
        ]
        try:
            services.gig_set_requirements(gig=gig, requirements=rows)
        except ValidationFailed as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Requirements saved.")
            return redirect("gig-edit", pk=gig.pk, step="requirements")
    return render_editor_step(request, gig, "requirements", {"formset": formset})


@login_required
@require_POST
def gig_publish(request, pk):
    gig = owned_gig_or_404(request, pk)
    try:
        services.gig_publish(gig=gig)
    except GigIncomplete as exc:
        for problem in exc.problems:
            messages.error(request, problem)
        back = request.POST.get("next", "")
        safe = url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        return redirect(back if safe else "my-gigs")
    except InvalidGigTransition as exc:
        messages.error(request, exc.message)
        return redirect("my-gigs")
    messages.success(request, f"“{gig.title}” is live.")
    return redirect("gig-detail", slug=gig.slug)


@login_required
@require_POST
def gig_pause(request, pk):
    gig = owned_gig_or_404(request, pk)
    try:
        services.gig_pause(gig=gig)
    except InvalidGigTransition as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"“{gig.title}” is paused and hidden from the catalog.")
    return redirect("my-gigs")


# --- accounts ---------------------------------------------------------------------------------


def signup(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_signup(
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
                display_name=form.cleaned_data.get("display_name", ""),
            )
        except ValidationFailed as exc:
            apply_service_errors(form, exc)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome, {user.username}! You can buy now, or start selling.")
            return redirect("home")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def profile(request):
    seller_profile = services.seller_profile_get_or_create(user=request.user)
    form = ProfileForm(
        request.POST or None,
        initial={
            "display_name": seller_profile.display_name,
            "headline": seller_profile.headline,
            "bio": seller_profile.bio,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.seller_profile_update(user=request.user, **form.cleaned_data)
        except ValidationFailed as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, "Profile saved.")
            return redirect("profile")
    token = Token.objects.filter(user=request.user).first()
    return render(request, "accounts/profile.html", {"form": form, "token": token})


@login_required
@require_POST
def api_token_rotate(request):
    """Create or replace the account's API token (shown once on the profile page)."""
    Token.objects.filter(user=request.user).delete()
    Token.objects.create(user=request.user)
    messages.success(request, "A new API token was created; the old one no longer works.")
    return redirect("profile")
