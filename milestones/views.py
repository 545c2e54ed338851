"""The gig editor's Description & FAQ step with the milestone builder, and template management.

Without JavaScript every button posts the page: "Add a milestone", "Remove", "Move up/down",
"Start from scratch" and "Apply template" rebuild the rows on the server and re-render without
saving; "Save" checks everything and saves description, FAQ and plan in one transaction.
With JavaScript (static/js/milestone-builder.js) the same buttons work in the page.
"""

import contextlib

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from gigs.forms import DescriptionForm, FaqFormSet, apply_service_errors
from gigs.models import Package
from gigs.views import owned_gig_or_404, render_editor_step
from marketplace.exceptions import DomainError, NotFound, ValidationFailed
from marketplace.money import exponent, to_minor

from . import selectors, services
from .forms import (
    MilestoneFormSet,
    TemplateNameForm,
    blank_row,
    initial_from_inputs,
    max_milestones,
    min_milestones,
    raw_rows,
)

PREFIX = "ms"
TIERS = list(Package.TIER_ORDER)
STRUCTURE_ACTIONS = ("ms_start", "ms_add", "ms_remove", "ms_up", "ms_down", "ms_apply_template")


def _totals(rows: list[dict], currency: str) -> list[dict]:
    """Package totals shown under the builder, from the rows as typed (unparseable prices count 0)."""
    result = []
    for tier in TIERS:
        price = days = count = 0
        for row in rows:
            if not row.get(f"{tier}_included"):
                continue
            count += 1
            with contextlib.suppress(ValueError):
                price += to_minor(row.get(f"{tier}_price") or "0", currency)
            with contextlib.suppress(TypeError, ValueError):
                days += int(row.get(f"{tier}_delivery_days") or 0)
        result.append(
            {"tier": tier, "label": Package.Tier(tier).label, "price_minor": price, "days": days, "count": count}
        )
    return result


def _restructure(request, rows: list[dict], gig) -> list[dict]:
    post = request.POST
    if "ms_start" in post:
        return [blank_row(1)]
    if "ms_add" in post:
        most = max_milestones()
        if len(rows) >= most:
            messages.error(request, f"A plan has at most {most} milestones.")
        else:
            rows.append(blank_row(len(rows) + 1))
        return rows
    if "ms_apply_template" in post:
        template = None
        if post.get("template", "").isdigit():
            template = selectors.template_get_for(request.user, int(post["template"]))
        if template is None:
            messages.error(request, "Choose a template to apply.")
            return rows
        messages.info(request, f"Template “{template.name}” applied: review the milestones, then save.")
        return initial_from_inputs(services.template_milestones(template), gig.currency)
    for action in ("ms_remove", "ms_up", "ms_down"):
        value = post.get(action, "")
        if value.isdigit() and int(value) < len(rows):
            i = int(value)
            if action == "ms_remove":
                rows.pop(i)
            elif action == "ms_up" and i > 0:
                rows[i - 1], rows[i] = rows[i], rows[i - 1]
            elif action == "ms_down" and i + 1 < len(rows):
                rows[i + 1], rows[i] = rows[i], rows[i + 1]
    return rows


def _apply_plan_errors(formset, exc: ValidationFailed) -> tuple[list[str], dict[str, list[str]], dict]:
    """Service errors onto the milestone forms; returns (plan errors, errors per package, rest)."""
    plan_errors: list[str] = []
    tier_errors: dict[str, list[str]] = {}
    rest: dict = {}
    for key, msgs in exc.errors.items():
        parts = key.split(".")
        if parts[0] == "milestones" and len(parts) >= 3 and parts[1].isdigit() and int(parts[1]) < len(formset.forms):
            form = formset.forms[int(parts[1])]
            if parts[2] == "packages" and len(parts) == 5:
                field = {"price_minor": "price", "delivery_days": "delivery_days", "revisions": "revisions"}
                name = f"{parts[3]}_{field.get(parts[4], parts[4])}"
            else:
                name = parts[2]
            for m in msgs:
                form.add_error(name if name in form.fields else None, m)
        elif parts[0] == "milestones":
            plan_errors.extend(msgs)
        elif parts[0] == "packages" and len(parts) == 2:
            tier_errors.setdefault(parts[1], []).extend(msgs)
        else:
            rest[key] = msgs
    return plan_errors, tier_errors, rest


@login_required
def edit_description(request, pk):
    gig = owned_gig_or_404(request, pk)
    currency = gig.currency
    templates = list(selectors.template_list_for(request.user))
    context = {
        "templates": templates,
        "template_form": TemplateNameForm(),
        "max_milestones": max_milestones(),
        "min_milestones": min_milestones(),
        "plan_errors": [],
        "tier_errors": {},
    }

    if request.method != "POST":
        rows = initial_from_inputs(services.plan_inputs(gig), currency)
        return _render(
            request,
            gig,
            DescriptionForm(initial={"description": gig.description}),
            FaqFormSet(prefix="faq", initial=[{"question": f.question, "answer": f.answer} for f in gig.faqs.all()]),
            MilestoneFormSet(prefix=PREFIX, initial=rows, currency=currency),
            rows,
            gig.milestone_payments,
            context,
        )

    post = request.POST
    milestone_payments = bool(post.get("milestone_payments"))
    form = DescriptionForm(post)
    faq_formset = FaqFormSet(post, prefix="faq")
    rows = raw_rows(post, PREFIX)

    if "add_faq" in post:
        data = post.copy()
        total = data.get("faq-TOTAL_FORMS", "")
        data["faq-TOTAL_FORMS"] = str(min(int(total) + 1 if total.isdigit() else 1, 10))
        return _render(
            request,
            gig,
            DescriptionForm(data),
            FaqFormSet(data, prefix="faq"),
            MilestoneFormSet(prefix=PREFIX, initial=rows[: max_milestones()], currency=currency),
            rows,
            milestone_payments,
            context,
        )
    if any(action in post for action in STRUCTURE_ACTIONS):
        rows = _restructure(request, rows[: max_milestones()], gig)
        return _render(
            request,
            gig,
            form,
            faq_formset,
            MilestoneFormSet(prefix=PREFIX, initial=rows, currency=currency),
            rows,
            milestone_payments,
            context,
        )

    formset = MilestoneFormSet(post, prefix=PREFIX, currency=currency)
    if "ms_save_template" in post:
        template_form = TemplateNameForm(post)
        context["template_form"] = template_form
        if template_form.is_valid() and formset.is_valid():
            try:
                template = services.template_save(
                    owner=request.user,
                    name=template_form.cleaned_data["template_name"],
                    milestones=[f.to_input() for f in formset.forms],
                )
            except ValidationFailed as exc:
                context["plan_errors"], _, _ = _apply_plan_errors(formset, exc)
                for m in exc.errors.get("name", []):
                    template_form.add_error("template_name", m)
            except DomainError as exc:
                template_form.add_error("template_name", exc.message)
            else:
                messages.success(request, f"Saved the plan as template “{template.name}”.")
                context["templates"] = list(selectors.template_list_for(request.user))
                context["template_form"] = TemplateNameForm()
        elif formset.is_valid() is False and not formset.non_form_errors():
            messages.error(request, "Fix the milestones before saving them as a template.")
        return _render(request, gig, form, faq_formset, formset, rows, milestone_payments, context)

    valid = form.is_valid() & faq_formset.is_valid() & formset.is_valid()
    if valid:
        faqs = [(f.cleaned_data.get("question", ""), f.cleaned_data.get("answer", "")) for f in faq_formset.forms]
        try:
            services.gig_description_page_save(
                gig=gig,
                description=form.cleaned_data["description"],
                faqs=faqs,
                milestones=[f.to_input() for f in formset.forms],
                milestone_payments=milestone_payments,
            )
        except ValidationFailed as exc:
            context["plan_errors"], context["tier_errors"], rest = _apply_plan_errors(formset, exc)
            if rest:  # description and FAQ errors
                apply_service_errors(form, ValidationFailed(rest))
        else:
            messages.success(request, "Description, FAQ and milestone plan saved.")
            return redirect("gig-edit", pk=gig.pk, step="description")
    return _render(request, gig, form, faq_formset, formset, rows, milestone_payments, context)


def _render(request, gig, form, faq_formset, formset, rows, milestone_payments, context):
    return render_editor_step(
        request,
        gig,
        "description",
        {
            "form": form,
            "formset": faq_formset,
            "ms_formset": formset,
            "milestone_payments": milestone_payments,
            "totals": _totals(rows, gig.currency),
            "can_add": len(formset.forms) < max_milestones(),
            "currency_exponent": exponent(gig.currency),
            "min_milestone_price": settings.MARKETPLACE["MILESTONE_MIN_PRICE_MINOR"],
            "min_basic_total": settings.MARKETPLACE["BASIC_MIN_TOTAL_MINOR"],
            "template_groups": selectors.template_picker_groups(context["templates"], gig.category),
            **context,
        },
    )


# --- templates --------------------------------------------------------------------------------


@login_required
def template_list(request):
    return render(request, "milestones/templates.html", {"templates": selectors.template_list_for(request.user)})


@login_required
@require_POST
def template_rename(request, template_id):
    try:
        services.template_rename(owner=request.user, template_id=template_id, name=request.POST.get("name", ""))
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except ValidationFailed as exc:
        messages.error(request, exc.message)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Template renamed.")
    return redirect("milestone-templates")


@login_required
@require_POST
def template_delete(request, template_id):
    try:
        services.template_delete(owner=request.user, template_id=template_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    messages.success(request, "Template deleted.")
    return redirect("milestone-templates")
