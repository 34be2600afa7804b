#!/usr/bin/env python
"""Django's command-line utility for comfyvn-market."""

import gc
import os
import sys

# Options only Django's command runner understands: with any of them, ``package`` goes
# the long way round through Django.
_DJANGO_OPTIONS = (
    "--settings",
    "--pythonpath",
    "--traceback",
    "--no-color",
    "--force-color",
    "--skip-checks",
    "--verbosity",
    "-v",
)


def _packager_only(argv: list[str]) -> bool:
    """``manage.py package ...``: pure packaging, no settings, apps or database."""
    return argv[1:2] == ["package"] and not any(
        arg.split("=", 1)[0] in _DJANGO_OPTIONS or arg.startswith("-v")
        for arg in argv[2:]
    )


def main() -> None:
    if _packager_only(sys.argv):
        # Modders build bundles far more often than they run the server: start in
        # the time the manifest checks take to load, not the web app's.
        from market.packaging.cli import main as package_main

        status = package_main(sys.argv)
        # The bundle is written and closed: spare the exit the collector's passes
        # over every object the imports made (tens of ms on a small machine).
        gc.freeze()
        sys.exit(status)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comfyvn_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
