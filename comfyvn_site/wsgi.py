"""WSGI entry point (gunicorn comfyvn_site.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comfyvn_site.settings")

application = get_wsgi_application()

from comfyvn_site.startup import refuse_on_check_errors  # noqa: E402

refuse_on_check_errors()
