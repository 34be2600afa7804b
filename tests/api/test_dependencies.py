"""Dependencies: install refuses a missing or out-of-range one, installs the whole
plan with ``with_dependencies`` (all or nothing), refuses cycles; uninstall refuses
``dependency_in_use`` unless ``cascade``."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from market import lifecycle
from market.models import InstalledExtension, LifecycleError, LifecycleEvent
from tests.publishing import publish

pytestmark = pytest.mark.usefixtures("catalog_key")

INSTALL = "market-api:install"
UNINSTALL = "market-api:uninstall"


class Crash(RuntimeError):
    pass


@pytest.fixture
def chain(build_bundle):
    """dep.top -> dep.mid (^1) -> dep.base (^1.2); dep.base has three versions."""
    for version in ("1.0.0", "1.5.0", "2.0.0"):
        publish(build_bundle, "dep.base", version)
    publish(build_bundle, "dep.mid", "1.0.0", deps={"dep.base": "^1.2"})
    publish(build_bundle, "dep.top", "1.0.0", deps={"dep.mid": "^1"})


def install(api, ext_id, version=None, **options):
    data = {"id": ext_id, **options}
    if version:
        data["version"] = version
    return api.post(reverse(INSTALL), data, format="json")


def installed() -> dict[str, str]:
    return dict(InstalledExtension.objects.values_list("extension_id", "version"))


def disk(market_root) -> dict[str, str]:
    """Each folder in extensions/ with the version its sidecar names."""
    root = market_root / "extensions"
    folders = root.iterdir() if root.exists() else ()
    return {
        f.name: json.loads((f / ".market.json").read_text())["version"] for f in folders
    }


def staging_left(market_root) -> list[str]:
    staging = market_root / "staging"
    return sorted(p.name for p in staging.iterdir()) if staging.exists() else []


def crash_at(monkeypatch, step, *, nth=1):
    seen = []

    def fault(name):
        if name == step:
            seen.append(name)
            if len(seen) == nth:
                raise Crash(step)

    monkeypatch.setattr(lifecycle, "fault_point", fault)


def test_a_missing_dependency_is_refused_with_the_versions_that_satisfy_it(
    api, chain, market_root
):
    response = install(api, "dep.mid")
    assert response.status_code == 409
    assert response.json() == {
        "ok": False,
        "error": {
            "code": "missing_dependency",
            "message": "dep.mid needs dep.base ^1.2, not installed at a version in "
            "range; install them first or pass with_dependencies",
            "details": {
                "id": "dep.mid",
                "missing": [
                    {
                        "id": "dep.base",
                        "range": "^1.2",
                        "required_by": "dep.mid",
                        "installed": None,
                        "satisfying": ["1.5.0"],
                    }
                ],
            },
        },
    }
    assert installed() == {} and disk(market_root) == {}
    assert LifecycleError.objects.get().code == "missing_dependency"


def test_the_whole_chain_is_listed_when_several_are_missing(api, chain):
    response = install(api, "dep.top")
    assert response.status_code == 409
    missing = response.json()["error"]["details"]["missing"]
    assert [(m["id"], m["required_by"], m["satisfying"]) for m in missing] == [
        ("dep.base", "dep.mid", ["1.5.0"]),
        ("dep.mid", "dep.top", ["1.0.0"]),
    ]


def test_an_out_of_range_dependency_is_refused(api, chain):
    assert install(api, "dep.base", "1.0.0").status_code == 200
    response = install(api, "dep.mid")
    assert response.status_code == 409
    [item] = response.json()["error"]["details"]["missing"]
    assert item == {
        "id": "dep.base",
        "range": "^1.2",
        "required_by": "dep.mid",
        "installed": "1.0.0",
        "satisfying": ["1.5.0"],
    }
    assert installed() == {"dep.base": "1.0.0"}


def test_a_satisfied_dependency_lets_the_install_through(api, chain, market_root):
    assert install(api, "dep.base", "1.5.0").status_code == 200
    response = install(api, "dep.mid")
    assert response.status_code == 200, response.json()
    assert "dependencies_installed" not in response.json()
    assert installed() == {"dep.base": "1.5.0", "dep.mid": "1.0.0"}
    assert disk(market_root) == installed()


def test_with_dependencies_installs_the_chain_dependencies_first(
    api, chain, market_root
):
    response = install(api, "dep.top", with_dependencies=True)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["installed"]["id"] == "dep.top"
    assert [(d["id"], d["version"]) for d in body["dependencies_installed"]] == [
        ("dep.base", "1.5.0"),
        ("dep.mid", "1.0.0"),
    ]
    assert installed() == {"dep.base": "1.5.0", "dep.mid": "1.0.0", "dep.top": "1.0.0"}
    assert disk(market_root) == installed()
    events = LifecycleEvent.objects.filter(action="install").order_by("id")
    assert list(events.values_list("extension_id", flat=True)) == [
        "dep.base",
        "dep.mid",
        "dep.top",
    ]
    assert staging_left(market_root) == []


@pytest.mark.parametrize(
    ("step", "nth"),
    [
        ("install.recorded", 3),  # the last step: the extension itself
        ("install.swapped", 3),
        ("plan.installed", 1),  # everything done, before the commit
        ("install.extracted", 2),  # a dependency in the middle
    ],
)
def test_a_fault_anywhere_in_the_plan_leaves_nothing_installed(
    api, chain, market_root, monkeypatch, step, nth
):
    crash_at(monkeypatch, step, nth=nth)
    api.raise_request_exception = False
    response = install(api, "dep.top", with_dependencies=True)
    assert response.status_code == 500
    assert installed() == {}
    assert disk(market_root) == {}
    assert staging_left(market_root) == []
    assert not LifecycleEvent.objects.filter(action="install").exists()
    # The failure is stored once, outside the rolled-back transaction.
    error = LifecycleError.objects.get()
    assert (error.action, error.extension_id, error.code) == (
        "install",
        "dep.top",
        "server_error",
    )


def test_a_fault_at_the_last_step_leaves_installed_dependencies_untouched(
    api, chain, market_root, monkeypatch
):
    assert install(api, "dep.base", "1.0.0").status_code == 200  # out of range
    publish_sidecar = (market_root / "extensions/dep.base/.market.json").read_bytes()
    row = InstalledExtension.objects.get(extension_id="dep.base")
    crash_at(monkeypatch, "install.recorded", nth=3)
    api.raise_request_exception = False
    response = install(api, "dep.top", with_dependencies=True)
    assert response.status_code == 500
    # dep.base was upgraded by the plan, and is back at 1.0.0 on disk and in the table.
    assert installed() == {"dep.base": "1.0.0"}
    assert disk(market_root) == {"dep.base": "1.0.0"}
    assert (market_root / "extensions/dep.base/.market.json").read_bytes() == (
        publish_sidecar
    )
    assert InstalledExtension.objects.get(extension_id="dep.base") == row
    assert staging_left(market_root) == []

    monkeypatch.setattr(lifecycle, "fault_point", lambda name: None)
    response = install(api, "dep.top", with_dependencies=True)
    assert response.status_code == 200
    assert [d["id"] for d in response.json()["dependencies_installed"]] == [
        "dep.base",
        "dep.mid",
    ]
    assert installed() == {"dep.base": "1.5.0", "dep.mid": "1.0.0", "dep.top": "1.0.0"}


def test_an_installed_dependency_in_range_is_used_as_it_is(api, chain, market_root):
    assert install(api, "dep.base", "1.5.0").status_code == 200
    sidecar = (market_root / "extensions/dep.base/.market.json").read_bytes()
    response = install(api, "dep.top", with_dependencies=True)
    assert [d["id"] for d in response.json()["dependencies_installed"]] == ["dep.mid"]
    assert (market_root / "extensions/dep.base/.market.json").read_bytes() == sidecar


def test_nothing_satisfies_a_dependency_even_with_dependencies(
    api, chain, build_bundle
):
    publish(build_bundle, "dep.greedy", "1.0.0", deps={"dep.base": "^3"})
    response = install(api, "dep.greedy", with_dependencies=True)
    assert response.status_code == 409
    assert response.json()["error"]["details"]["missing"] == [
        {
            "id": "dep.base",
            "range": "^3",
            "required_by": "dep.greedy",
            "installed": None,
            "satisfying": [],
        }
    ]
    assert installed() == {}


def test_an_upgrade_never_breaks_another_installed_dependent(api, chain, build_bundle):
    publish(build_bundle, "dep.pin", "1.0.0", deps={"dep.base": "1.0.x"})
    publish(build_bundle, "dep.new", "1.0.0", deps={"dep.base": ">=1.5"})
    assert install(api, "dep.base", "1.0.0").status_code == 200
    assert install(api, "dep.pin").status_code == 200
    # dep.new needs dep.base >=1.5; dep.pin (installed) needs 1.0.x: no version fits.
    response = install(api, "dep.new", with_dependencies=True)
    assert response.status_code == 409
    [item] = response.json()["error"]["details"]["missing"]
    assert (item["id"], item["installed"]) == ("dep.base", "1.0.0")
    assert installed() == {"dep.base": "1.0.0", "dep.pin": "1.0.0"}


def test_a_cycle_across_the_catalogue_is_refused(api, build_bundle, market_root):
    publish(build_bundle, "cyc.a", "1.0.0", deps={"cyc.b": "1"})
    publish(build_bundle, "cyc.b", "1.0.0", deps={"cyc.c": "1"})
    publish(build_bundle, "cyc.c", "1.0.0", deps={"cyc.a": "^1"})
    for options in ({}, {"with_dependencies": True}):
        response = install(api, "cyc.a", **options)
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "dependency_cycle"
        assert error["details"] == {
            "id": "cyc.a",
            "cycle": ["cyc.a", "cyc.b", "cyc.c", "cyc.a"],
        }
        assert "cyc.a -> cyc.b -> cyc.c -> cyc.a" in error["message"]
    assert installed() == {} and disk(market_root) == {}


def test_an_uploaded_bundle_brings_its_dependencies(api, chain, build_bundle):
    bundle = build_bundle(
        "hello_minimal", edit=lambda d: d.update(dependencies={"dep.mid": "1.x"})
    )
    refused = api.post(reverse(INSTALL), {"package": str(bundle.path)}, format="json")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "missing_dependency"
    assert [m["id"] for m in refused.json()["error"]["details"]["missing"]] == [
        "dep.mid"
    ]
    response = api.post(
        reverse(INSTALL),
        {"package": str(bundle.path), "with_dependencies": True},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert installed() == {
        "dep.base": "1.5.0",
        "dep.mid": "1.0.0",
        "hello.minimal": "0.1.0",
    }


def test_uninstalling_a_dependency_is_refused_then_cascaded(api, chain, market_root):
    assert install(api, "dep.top", with_dependencies=True).status_code == 200
    refused = api.post(reverse(UNINSTALL), {"id": "dep.base"}, format="json")
    assert refused.status_code == 409
    assert refused.json() == {
        "ok": False,
        "error": {
            "code": "dependency_in_use",
            "message": "dep.base is needed by dep.mid; uninstall those first or pass "
            "cascade",
            "details": {
                "id": "dep.base",
                "dependents": [{"id": "dep.mid", "version": "1.0.0", "range": "^1.2"}],
            },
        },
    }
    assert len(installed()) == 3 and len(disk(market_root)) == 3

    response = api.post(
        reverse(UNINSTALL), {"id": "dep.base", "cascade": True}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "id": "dep.base",
        "dependents_removed": ["dep.top", "dep.mid"],
    }
    assert installed() == {} and disk(market_root) == {}
    removed = LifecycleEvent.objects.filter(action="uninstall").order_by("id")
    assert list(removed.values_list("extension_id", flat=True)) == [
        "dep.top",
        "dep.mid",
        "dep.base",
    ]


def test_a_fault_in_a_cascade_puts_everything_back(
    api, chain, market_root, monkeypatch
):
    assert install(api, "dep.top", with_dependencies=True).status_code == 200
    before = disk(market_root)
    crash_at(monkeypatch, "cascade.uninstalled")
    api.raise_request_exception = False
    response = api.post(
        reverse(UNINSTALL), {"id": "dep.base", "cascade": True}, format="json"
    )
    assert response.status_code == 500
    assert disk(market_root) == before == installed()
    assert staging_left(market_root) == []
    assert LifecycleError.objects.get().extension_id == "dep.base"


def test_a_leaf_uninstalls_without_cascade(api, chain):
    assert install(api, "dep.top", with_dependencies=True).status_code == 200
    response = api.post(reverse(UNINSTALL), {"id": "dep.top"}, format="json")
    assert response.json() == {"ok": True, "id": "dep.top"}
    response = api.post(
        reverse(UNINSTALL), {"id": "dep.mid", "cascade": True}, format="json"
    )
    assert response.json() == {"ok": True, "id": "dep.mid", "dependents_removed": []}
    assert installed() == {"dep.base": "1.5.0"}


def test_an_upgrade_that_would_break_a_dependent_is_refused(api, chain, market_root):
    assert install(api, "dep.mid", with_dependencies=True).status_code == 200
    response = install(api, "dep.base", "2.0.0")
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "dependency_in_use",
        "message": "dep.base 2.0.0 is outside the range that dep.mid (^1.2) need; "
        "uninstall or upgrade them first",
        "details": {
            "id": "dep.base",
            "version": "2.0.0",
            "dependents": [{"id": "dep.mid", "version": "1.0.0", "range": "^1.2"}],
        },
    }
    assert disk(market_root) == installed() == {"dep.base": "1.5.0", "dep.mid": "1.0.0"}
    # A version the dependents accept goes through.
    assert install(api, "dep.base", "1.5.0", reinstall=True).status_code == 200


def test_an_upgrade_brings_the_newer_dependency_it_needs(api, chain, build_bundle):
    publish(build_bundle, "dep.app", "1.0.0", deps={"dep.base": "1.x"})
    publish(build_bundle, "dep.app", "2.0.0", deps={"dep.base": "^2"})
    assert install(api, "dep.app", "1.0.0", with_dependencies=True).status_code == 200
    assert installed() == {"dep.app": "1.0.0", "dep.base": "1.5.0"}
    refused = install(api, "dep.app")
    assert refused.status_code == 409
    [item] = refused.json()["error"]["details"]["missing"]
    assert (item["installed"], item["satisfying"]) == ("1.5.0", ["2.0.0"])
    response = install(api, "dep.app", with_dependencies=True)
    assert response.status_code == 200, response.json()
    assert installed() == {"dep.app": "2.0.0", "dep.base": "2.0.0"}
