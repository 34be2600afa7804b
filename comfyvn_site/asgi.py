"""ASGI entry point."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comfyvn_site.settings")

application = get_asgi_application()

from comfyvn_site.startup import refuse_on_check_errors  # noqa: E402

refuse_on_check_errors()
