"""The pages of buyer projects and custom offers (issue 7): sellers browse open projects, buyers
post them and list theirs, the project page (the brief, the sketch, attachments, the offers
compared side by side for the buyer; the seller's own offer), the offer form (send / revise,
prefilled from a milestone template or a gig), the offer thread, the buyer's decline, the
seller's withdraw, closing a project and the attachment downloads. Accepting an offer is the
checkout's (payments.views.offer_checkout): milestones does not import payments.

Every read goes through milestones.project_selectors (scoped: a project or offer the viewer may
not see is a 404, never a hint that it exists) and every write through
milestones.project_services. A refused step changes nothing: input errors come back next to
their field or milestone row, any other refusal as a form error (or a message, for the
buttons of the project page).
"""

import logging
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from gigs.models import Gig, Package
from marketplace.exceptions import DomainError, NotFound, ValidationFailed
from marketplace.money import format_money

from . import project_selectors as sel
from . import project_services as ps
from . import selectors as milestone_selectors
from .project_forms import (
    BLANK_PLAN_ROW,
    PLAN_CHECKS,
    PLAN_ERRORS,
    PLAN_FIELDS,
    PLAN_PREFIX,
    PROJECT_ERRORS,
    SKETCH_ERRORS,
    SKETCH_FIELDS,
    SKETCH_PREFIX,
    AttachForm,
    CloseForm,
    DeclineForm,
    InviteForm,
    MessageForm,
    OfferForm,
    PlanFormSet,
    ProjectEditForm,
    ProjectForm,
    ProjectSearchForm,
    SketchFormSet,
    WithdrawForm,
    apply_errors,
    max_rows,
    plan_rows,
    project_initial,
    raw_rows,
    restructure,
    sketch_rows,
)
from .project_models import Offer, Project

log = logging.getLogger(__name__)

PAGE_SIZE = 20
OS = Offer.Status
BLANK_SKETCH_ROW = {"name": "", "description": "", "share": "", "target_date": ""}


def _project_or_404(request, pk: int) -> Project:
    try:
        return sel.project_get_for_user(user=request.user, project_id=pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _offer_or_404(request, pk: int, offer_id: int) -> Offer:
    try:
        offer = sel.offer_get_for_user(user=request.user, offer_id=offer_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    if offer.project_id != pk:
        raise Http404("No such offer.")
    return offer


def _act_then_detail(request, pk: int, action: Callable[[], object], success: str):
    """Run a service call for a button on the project page and go back there: NotFound is a 404,
    another refusal an error message, success `success`."""
    try:
        action()
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success)
    return redirect("project-detail", pk=pk)


def _initial(post) -> dict:
    """A posted form as initial values: re-rendered after "Add a milestone" without errors."""
    return {key: post.get(key) for key in post}


def _sketch(project: Project) -> list:
    rows = list(project.milestones.all())
    for m in rows:
        m.share_text = f"{m.share_bps / 100:g}"
    return rows


# --- lists ------------------------------------------------------------------------------------


@login_required
@require_GET
def project_list(request):
    """Open projects this seller may offer on (public ones of their gigs' categories, and those
    they were invited to), with search and budget / deadline filters. A fixed number of queries."""
    form = ProjectSearchForm(request.GET or None)
    filters = {}
    if form.is_bound:
        form.is_valid()
        data = form.cleaned_data
        filters = {
            "q": data.get("q") or "",
            "budget_min": data.get("budget_min"),
            "budget_max": data.get("budget_max"),
            "deadline_before": data.get("deadline_before"),
        }
    page = Paginator(sel.project_list_for_seller(seller=request.user, **filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    projects = list(page.object_list)
    return render(
        request,
        "milestones/projects/list.html",
        {"form": form, "page": page, "projects": projects, "filtered": any(v for v in filters.values())},
    )


@login_required
@require_GET
def project_mine(request):
    """The buyer's projects in every state, with their live offers counted. A fixed number of queries."""
    page = Paginator(sel.project_list_for_buyer(buyer=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    projects = list(page.object_list)
    return render(request, "milestones/projects/mine.html", {"page": page, "projects": projects})


@login_required
@require_GET
def offer_mine(request):
    """The seller's offers on every project, newest first, with their status. A fixed number of queries."""
    page = Paginator(sel.offer_list_for_seller(seller=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "milestones/projects/my_offers.html", {"page": page, "offers": list(page.object_list)})


# --- posting a project --------------------------------------------------------------------------


def _form_page(request, form, sketch, *, project: Project | None = None, status: int = 200):
    return render(
        request,
        "milestones/projects/form.html",
        {
            "project": project,
            "form": form,
            "sketch": sketch,
            "max_milestones": max_rows(),
            "min_milestones": settings.MARKETPLACE["MILESTONES_MIN"],
            "can_add": len(sketch.forms) < max_rows(),
        },
        status=status,
    )


@login_required
def project_create(request):
    """Post a project: the brief, budget, timeline, visibility and invitations, attachments, and
    an optional milestone sketch. "Add a milestone" / "Remove" rebuild the sketch without saving."""
    user = request.user
    if request.method != "POST":
        return _form_page(request, ProjectForm(buyer=user), SketchFormSet(prefix=SKETCH_PREFIX, initial=[]))
    post = request.POST
    if f"{SKETCH_PREFIX}_add" in post or f"{SKETCH_PREFIX}_remove" in post:
        rows, problem = restructure(post, SKETCH_PREFIX, raw_rows(post, SKETCH_PREFIX, SKETCH_FIELDS), BLANK_SKETCH_ROW)
        if problem:
            messages.error(request, problem)
        if request.FILES:
            messages.info(request, "Choose your attachments again before posting: files are not kept between steps.")
        return _form_page(
            request,
            ProjectForm(initial=_initial(post), buyer=user),
            SketchFormSet(prefix=SKETCH_PREFIX, initial=rows),
        )

    form = ProjectForm(post, request.FILES, buyer=user)
    sketch = SketchFormSet(post, prefix=SKETCH_PREFIX)
    valid = form.is_valid() & sketch.is_valid()
    if valid:
        try:
            project = ps.project_create(
                buyer=user,
                **form.service_kwargs(),
                milestones=[f.to_input() for f in sketch.forms],
                invited_seller_ids=[u.pk for u in form.cleaned_data["invites"]],
                attachments=form.cleaned_data["attachments"],
            )
        except ValidationFailed as exc:
            sketch.rows_errors, rest = sketch.apply_row_errors(exc.errors, SKETCH_ERRORS)
            apply_errors(form, rest, PROJECT_ERRORS)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Your project is posted: sellers can send offers now.")
            return redirect("project-detail", pk=project.pk)
    if request.FILES:
        messages.info(request, "Choose your attachments again: files are not kept when the form has errors.")
    return _form_page(request, form, sketch)


@login_required
def project_edit(request, pk: int):
    """The buyer edits an open project's brief, budget, dates, visibility and sketch (offers
    already sent stay as they are and are compared with the new terms)."""
    project = _project_or_404(request, pk)
    user = request.user
    if project.buyer_id != user.pk:
        raise Http404("No such project.")
    if not project.is_open and request.method != "POST":
        messages.error(request, "Only an open project can be edited.")
        return redirect("project-detail", pk=pk)
    if request.method != "POST":
        return _form_page(
            request,
            ProjectEditForm(initial=project_initial(project), buyer=user),
            SketchFormSet(prefix=SKETCH_PREFIX, initial=sketch_rows(project.milestones.all())),
            project=project,
        )
    post = request.POST
    if f"{SKETCH_PREFIX}_add" in post or f"{SKETCH_PREFIX}_remove" in post:
        rows, problem = restructure(post, SKETCH_PREFIX, raw_rows(post, SKETCH_PREFIX, SKETCH_FIELDS), BLANK_SKETCH_ROW)
        if problem:
            messages.error(request, problem)
        return _form_page(
            request,
            ProjectEditForm(initial=_initial(post), buyer=user),
            SketchFormSet(prefix=SKETCH_PREFIX, initial=rows),
            project=project,
        )
    form = ProjectEditForm(post, buyer=user)
    sketch = SketchFormSet(post, prefix=SKETCH_PREFIX)
    valid = form.is_valid() & sketch.is_valid()
    if valid:
        try:
            ps.project_update(
                buyer=user, project_id=pk, **form.service_kwargs(), milestones=[f.to_input() for f in sketch.forms]
            )
        except NotFound as exc:
            raise Http404(exc.message) from exc
        except ValidationFailed as exc:
            sketch.rows_errors, rest = sketch.apply_row_errors(exc.errors, SKETCH_ERRORS)
            apply_errors(form, rest, PROJECT_ERRORS)
        except DomainError as exc:  # no longer open
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Project saved. Offers already sent are compared with the new terms.")
            return redirect("project-detail", pk=pk)
    return _form_page(request, form, sketch, project=project)


# --- the project page ---------------------------------------------------------------------------


@login_required
@require_GET
def project_detail(request, pk: int):
    """The project: for its buyer every offer (not removed) side by side, compared with the
    budget and the deadline, with accept, decline and the thread; closing the project; more
    invitations. For a seller: the brief and their own offer (send, revise, withdraw)."""
    project = _project_or_404(request, pk)
    user = request.user
    is_buyer = project.buyer_id == user.pk
    offers = sel.offer_list_for_project(user=user, project=project)
    context = {
        "project": project,
        "is_buyer": is_buyer,
        "budget_text": project.budget_text,
        "offers": offers,
        "sketch": _sketch(project),
        "attachments": list(project.attachments.all()),
    }
    if is_buyer:
        accepted = next((o for o in offers if o.status == OS.ACCEPTED), None)
        context.update(
            {
                "accepted": accepted,
                "accepted_order": sel.offer_current_order(offer=accepted) if accepted else None,
                "live_count": sum(1 for o in offers if o.status == OS.LIVE),
                "close_form": CloseForm(auto_id="close-%s") if project.is_open else None,
                "attach_form": AttachForm(auto_id="attach-%s") if project.is_open else None,
                "invite_form": InviteForm(auto_id="invite-%s") if project.is_open else None,
                "invited": [i.seller for i in project.invites.select_related("seller__seller_profile")],
            }
        )
        for o in offers:
            o.decline_form = DeclineForm(auto_id=f"decline-{o.pk}-%s") if o.status == OS.LIVE else None
    else:
        current = next((o for o in offers if o.status in Offer.CURRENT), None)
        # The card shows the current offer, or else the latest one (withdrawn, not selected, ...).
        shown = current or max(offers, key=lambda o: (o.created_at, o.pk), default=None)
        context.update(
            {
                "current": current,
                # The seller's way to the order once it is paid (they see it from then on).
                "accepted_order": (
                    sel.offer_current_order(offer=current) if current and current.status == OS.ACCEPTED else None
                ),
                "shown": shown,
                "can_offer": current is None and sel.project_open_to_seller(seller=user, project_id=project.pk),
                "withdraw_form": WithdrawForm(auto_id="withdraw-%s") if current and current.is_live else None,
                "past_offers": [o for o in offers if o is not shown],
            }
        )
    return render(request, "milestones/projects/detail.html", context)


@login_required
@require_POST
def project_close(request, pk: int):
    """The buyer closes an open project to offers for good; live offers end not selected."""
    project = _project_or_404(request, pk)
    if project.buyer_id != request.user.pk:
        raise Http404("No such project.")
    form = CloseForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(e for errs in form.errors.values() for e in errs))
        return redirect("project-detail", pk=pk)
    return _act_then_detail(
        request,
        pk,
        lambda: ps.project_close(actor=request.user, project_id=pk, reason=form.cleaned_data["reason"]),
        "The project is closed: it takes no more offers.",
    )


@login_required
@require_POST
def project_invite(request, pk: int):
    """The buyer invites more sellers (by username) to an open project."""
    project = _project_or_404(request, pk)
    if project.buyer_id != request.user.pk:
        raise Http404("No such project.")
    form = InviteForm(request.POST, buyer=request.user)
    if not form.is_valid():
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
        return redirect("project-detail", pk=pk)
    sellers = form.cleaned_data["invites"]
    try:
        ps.project_invite(buyer=request.user, project_id=pk, seller_ids=[u.pk for u in sellers])
    except ValidationFailed as exc:
        messages.error(request, " ".join(e for errs in exc.errors.values() for e in errs))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Invited {', '.join(u.username for u in sellers)}.")
    return redirect("project-detail", pk=pk)


@login_required
@require_POST
def project_attach(request, pk: int):
    """The buyer attaches more files to an open project (the UPLOAD_* limits count those there)."""
    project = _project_or_404(request, pk)
    if project.buyer_id != request.user.pk:
        raise Http404("No such project.")
    form = AttachForm(request.POST, request.FILES)
    files = form.cleaned_data["files"] if form.is_valid() else []
    if not files:
        messages.error(request, "Choose a file to attach.")
        return redirect("project-detail", pk=pk)
    try:
        ps.project_attachment_add(buyer=request.user, project_id=pk, files=files)
    except ValidationFailed as exc:
        messages.error(request, " ".join(e for errs in exc.errors.values() for e in errs))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Attached {', '.join(f.name for f in files)}.")
    return redirect("project-detail", pk=pk)


@login_required
@require_GET
def project_attachment(request, pk: int, attachment_id: int):
    """A file of the brief, for whoever may see the project (404 otherwise), streamed as an
    attachment under its name: never a public media URL, never rendered inline."""
    project = _project_or_404(request, pk)
    row = next((a for a in project.attachments.all() if a.pk == attachment_id), None)
    if row is None:
        raise Http404("No such file.")
    try:
        handle = row.file.open("rb")
    except (FileNotFoundError, OSError) as exc:
        log.warning("Project attachment %s is missing from storage", row.pk)
        raise Http404("This file is not available.") from exc
    response = FileResponse(handle, as_attachment=True, filename=row.name)
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- the offer form ----------------------------------------------------------------------------


def _tier(value: str) -> str:
    return value if value in Package.Tier.values else Package.Tier.STANDARD


def _prefill(request, project: Project) -> tuple[list[dict] | None, str]:
    """Rows from ?template=<id> or ?gig=<id> (with &tier=), and a note for the page."""
    get = request.GET
    tier = _tier(get.get("tier", ""))
    try:
        if get.get("template", "").isdigit():
            lines = sel.offer_prefill_from_template(seller=request.user, template_id=int(get["template"]), tier=tier)
            return plan_rows(lines, project.currency), "Filled from your template: check each milestone, then send."
        if get.get("gig", "").isdigit():
            gig_id = int(get["gig"])
            lines = sel.offer_prefill_from_gig(seller=request.user, gig_id=gig_id, tier=tier)
            currency = Gig.objects.filter(pk=gig_id).values_list("currency", flat=True).first() or project.currency
            note = f"Filled from the {Package.Tier(tier).label} package of your gig: check each milestone, then send."
            if currency != project.currency:
                note += f" The gig's prices are in {currency}; this offer is in {project.currency}: adjust them."
            return plan_rows(lines, currency), note
    except NotFound as exc:
        messages.error(request, f"{exc.message} The plan was not filled in.")
    return None, ""


def _offer_page(request, project: Project, form, plan, *, offer: Offer | None = None, note: str = ""):
    user = request.user
    templates = list(milestone_selectors.template_list_for(user))
    return render(
        request,
        "milestones/projects/offer_form.html",
        {
            "project": project,
            "offer": offer,
            "budget_text": project.budget_text,
            "form": form,
            "plan": plan,
            "note": note,
            "max_milestones": max_rows(),
            "min_milestones": settings.MARKETPLACE["MILESTONES_MIN"],
            "can_add": len(plan.forms) < max_rows(),
            "template_groups": milestone_selectors.template_picker_groups(templates, project.category),
            "gigs": list(Gig.objects.filter(seller=user).order_by("title").only("pk", "title", "currency")),
            "tiers": [(t, Package.Tier(t).label) for t in Package.TIER_ORDER],
            "tier": _tier(request.GET.get("tier", "")),
            "action_url": (
                reverse("project-offer-revise", args=[project.pk, offer.pk])
                if offer
                else reverse("project-offer-new", args=[project.pk])
            ),
        },
    )


def _offer_form_flow(request, project: Project, offer: Offer | None):
    """GET: the form (the offer's current plan, or one blank milestone; a prefill on request).
    POST: add / remove rows, or send (offer_send) / revise (offer_revise)."""
    currency = project.currency
    if request.method != "POST":
        rows = plan_rows(offer.milestones.all(), currency) if offer else [dict(BLANK_PLAN_ROW)]
        filled, note = _prefill(request, project)
        initial = {"message": offer.message} if offer else {}
        return _offer_page(
            request,
            project,
            OfferForm(initial=initial),
            PlanFormSet(prefix=PLAN_PREFIX, initial=filled if filled is not None else rows, currency=currency),
            offer=offer,
            note=note,
        )
    post = request.POST
    if f"{PLAN_PREFIX}_add" in post or f"{PLAN_PREFIX}_remove" in post:
        rows = raw_rows(post, PLAN_PREFIX, PLAN_FIELDS, PLAN_CHECKS)
        rows, problem = restructure(post, PLAN_PREFIX, rows, BLANK_PLAN_ROW)
        if problem:
            messages.error(request, problem)
        return _offer_page(
            request,
            project,
            OfferForm(initial=_initial(post)),
            PlanFormSet(prefix=PLAN_PREFIX, initial=rows, currency=currency),
            offer=offer,
        )
    form = OfferForm(post)
    plan = PlanFormSet(post, prefix=PLAN_PREFIX, currency=currency)
    valid = form.is_valid() & plan.is_valid()
    if valid:
        kwargs = {
            "seller": request.user,
            "message": form.cleaned_data["message"],
            "milestones": [f.to_input() for f in plan.forms],
            "expiry_days": form.cleaned_data["expiry_days"],
        }
        try:
            if offer is None:
                saved = ps.offer_send(project_id=project.pk, **kwargs)
            else:
                saved = ps.offer_revise(offer_id=offer.pk, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from exc
        except ValidationFailed as exc:
            plan.rows_errors, rest = plan.apply_row_errors(exc.errors, PLAN_ERRORS)
            apply_errors(form, rest, {})
        except DomainError as exc:  # own project, not open, already offered, no longer live
            form.add_error(None, exc.message)
        else:
            total = format_money(saved.total_minor, saved.currency)
            if offer is None:
                messages.success(request, f"Your offer of {total} is sent: the buyer is told.")
            else:
                messages.success(request, f"Your offer is revised (version {saved.revision}, {total}).")
            return redirect("project-detail", pk=project.pk)
    return _offer_page(request, project, form, plan, offer=offer)


@login_required
def offer_new(request, pk: int):
    """A seller sends an offer on a project they may see (404 otherwise)."""
    project = _project_or_404(request, pk)
    if request.method != "POST":
        if project.buyer_id == request.user.pk:
            messages.error(request, "You cannot send an offer on your own project.")
            return redirect("project-detail", pk=pk)
        current = next(
            (o for o in sel.offer_list_for_project(user=request.user, project=project) if o.status in Offer.CURRENT),
            None,
        )
        if current is not None:
            if current.is_live:
                messages.info(request, "You already have an offer on this project: revise it here.")
                return redirect("project-offer-revise", pk=pk, offer_id=current.pk)
            messages.info(request, "Your offer on this project was accepted.")
            return redirect("project-detail", pk=pk)
        if not project.is_open:
            messages.error(request, "This project takes no offers now.")
            return redirect("project-detail", pk=pk)
    return _offer_form_flow(request, project, None)


@login_required
def offer_revise(request, pk: int, offer_id: int):
    """The seller revises their live offer (message, plan and expiry, all at once)."""
    project = _project_or_404(request, pk)
    offer = _offer_or_404(request, pk, offer_id)
    if offer.seller_id != request.user.pk:
        raise Http404("No such offer.")
    if request.method != "POST" and (not offer.is_live or offer.is_past_expiry()):
        state = "has expired" if offer.is_live else f"is {offer.get_status_display().lower()}"
        messages.error(request, f"This offer {state}: it cannot be revised. Send a new one instead.")
        return redirect("project-detail", pk=pk)
    return _offer_form_flow(request, project, offer)


@login_required
@require_POST
def offer_withdraw(request, pk: int, offer_id: int):
    offer = _offer_or_404(request, pk, offer_id)
    if offer.seller_id != request.user.pk:
        raise Http404("No such offer.")
    form = WithdrawForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    return _act_then_detail(
        request,
        pk,
        lambda: ps.offer_withdraw(seller=request.user, offer_id=offer.pk, reason=reason),
        "Your offer is withdrawn.",
    )


@login_required
@require_POST
def offer_decline(request, pk: int, offer_id: int):
    offer = _offer_or_404(request, pk, offer_id)
    if offer.project.buyer_id != request.user.pk:
        raise Http404("No such offer.")
    form = DeclineForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    return _act_then_detail(
        request,
        pk,
        lambda: ps.offer_decline(buyer=request.user, offer_id=offer.pk, reason=reason),
        f"You declined {offer.seller.public_name}'s offer: they are told.",
    )


# --- the offer thread --------------------------------------------------------------------------


@login_required
def offer_thread(request, pk: int, offer_id: int):
    """The offer with its plan and comparisons, and its thread between the project's buyer and
    the offer's seller; both post while the offer is live or accepted."""
    offer = _offer_or_404(request, pk, offer_id)
    project = offer.project
    form = MessageForm()
    if request.method == "POST":
        form = MessageForm(request.POST)
        if form.is_valid():
            try:
                ps.offer_message_post(user=request.user, offer_id=offer.pk, body=form.cleaned_data["body"])
            except NotFound as exc:
                raise Http404(exc.message) from exc
            except ValidationFailed as exc:
                apply_errors(form, exc.errors, {})
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, "Message sent.")
                return redirect("project-offer", pk=pk, offer_id=offer.pk)
    is_buyer = project.buyer_id == request.user.pk
    return render(
        request,
        "milestones/projects/offer_thread.html",
        {
            "project": project,
            "offer": offer,
            "is_buyer": is_buyer,
            "budget_text": project.budget_text,
            "thread": list(sel.offer_messages(offer=offer)),
            # A refused post keeps its form, to show why; otherwise a closed thread has none.
            "form": form if offer.status in Offer.CURRENT or form.is_bound else None,
            "decline_form": DeclineForm(auto_id="decline-%s") if is_buyer and offer.is_live else None,
            "can_accept": is_buyer and offer.is_live and project.is_open and not offer.is_past_expiry(),
        },
    )
