from django.apps import AppConfig


class MilestonesConfig(AppConfig):
    name = "milestones"
    verbose_name = "Milestone plans"

    def ready(self) -> None:
        from gigs import hooks

        from .hooks import plan_api_fields, plan_page_context

        hooks.detail_context.append(plan_page_context)
        hooks.detail_api_fields.append(plan_api_fields)
