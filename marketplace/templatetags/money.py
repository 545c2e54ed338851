from django import template

from marketplace.money import format_money

register = template.Library()


@register.simple_tag
def money(amount_minor, currency):
    """{% money package.price_minor package.currency %} -> "$25"."""
    return format_money(amount_minor, currency)


@register.simple_tag(takes_context=True)
def query_with(context, **changes):
    """The current query string with some parameters replaced (pagination, ordering links)."""
    params = context["request"].GET.copy()
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    return "?" + params.urlencode() if params else "?"
