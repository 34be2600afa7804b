"""The operator's commands keep dependencies whole: ``market_install`` refuses a
missing one, ``market_uninstall`` refuses a needed one unless ``--cascade``."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from market.models import InstalledExtension


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_commands_refuse_and_cascade(build_bundle):
    base = build_bundle("hello_minimal", edit=lambda d: d.update(id="cmd.base"))
    app = build_bundle(
        "hello_minimal",
        edit=lambda d: d.update(id="cmd.app", dependencies={"cmd.base": "^0.1"}),
    )
    with pytest.raises(CommandError, match=r"missing_dependency: cmd\.app needs"):
        run("market_install", str(app.path))
    run("market_install", str(base.path))
    run("market_install", str(app.path))
    with pytest.raises(CommandError, match=r"dependency_in_use: cmd\.base is needed"):
        run("market_uninstall", "cmd.base")
    assert run("market_uninstall", "cmd.base", "--cascade").splitlines() == [
        "[ok] uninstalled cmd.app (depends on cmd.base)",
        "[ok] uninstalled cmd.base",
    ]
    assert not InstalledExtension.objects.exists()
