"""Django app configuration for the marketplace."""

from django.apps import AppConfig


class MarketConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "market"
    verbose_name = "Extension marketplace"

    def ready(self) -> None:
        # Registers the system checks and the conf cache's setting_changed receiver.
        from market import checks, conf  # noqa: F401
