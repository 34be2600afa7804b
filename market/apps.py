"""Django app configuration for the marketplace."""

from django.apps import AppConfig


class MarketConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "market"
    verbose_name = "Extension marketplace"

    def ready(self) -> None:
        # Registers the system checks, the conf cache's setting_changed receiver and
        # the reference id given to uncaught exceptions (got_request_exception).
        from market import checks, conf  # noqa: F401
        from market.api import handlers  # noqa: F401
