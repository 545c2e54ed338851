from django.apps import AppConfig


class GigsConfig(AppConfig):
    name = "gigs"
    verbose_name = "Accounts and gig catalog"
