"""pyproject.toml declares exactly what the code imports, and kdata.deps names the extras pyproject defines."""

from __future__ import annotations

from functools import cache
from importlib.metadata import packages_distributions

import pytest

from kdata import deps
from kdata.errors import MissingDependencyError
from tests.packaging.declared import (
    base_requirements,
    extra_requirements,
    normalise,
    pyproject,
    requirement_name,
    third_party_imports,
)

# Modules whose distribution differs from what packages_distributions() finds first in this venv.
NOT_IMPORTED_BUT_NEEDED = {
    "torchvision",  # open_clip imports it; declared beside torch so setup.sh's matched pair is honoured
    "playwright",  # scrapy-playwright drives it; kcli crawl launches Chromium through it
    "ray",  # the [ray] extra is ray[client]; kdata.runner imports ray
    "s3fs",  # fsspec loads it by name for s3:// paths
    "tensorboard",  # accelerate loads it for --report-to tensorboard (ktrain.trackers names it through require)
}


def declared() -> set[str]:
    names = {requirement_name(r) for r in base_requirements()}
    for extra in pyproject()["project"]["optional-dependencies"]:
        if extra != "dev":
            names |= extra_requirements(extra)
    return names


@cache
def installed() -> dict[str, list[str]]:
    return packages_distributions()  # scans every installed distribution: once per test run


def distribution_of(module: str) -> str:
    found = installed().get(module)
    assert found, f"{module} is imported but no installed distribution provides it"
    return normalise(found[0])


def test_every_third_party_import_is_declared_in_pyproject() -> None:
    missing = {module: sorted(files)[:3] for module, files in third_party_imports().items()
               if distribution_of(module) not in declared()}
    assert missing == {}


def test_every_declared_distribution_is_imported() -> None:
    imported = {distribution_of(m) for m in third_party_imports()} | {normalise(d) for d in NOT_IMPORTED_BUT_NEEDED}
    assert sorted(declared() - imported) == []  # psutil and pandas were declared and never imported


def test_the_base_install_carries_no_heavy_library() -> None:
    base = {requirement_name(r) for r in base_requirements()}
    assert base.isdisjoint({"torch", "transformers", "diffusers", "scrapy", "playwright", "nudenet", "fastapi",
                            "datasets", "onnxruntime", "opencv-python-headless"})
    assert "jinja2" in base and "psutil" not in base


def test_each_extra_in_kdata_deps_provides_its_modules() -> None:
    extras = pyproject()["project"]["optional-dependencies"]
    assert set(deps.EXTRAS) <= set(extras)
    for extra, modules in deps.EXTRAS.items():
        wanted = {distribution_of(m) for m in modules if m not in NOT_IMPORTED_BUT_NEEDED}
        assert wanted <= extra_requirements(extra), extra
    assert extra_requirements("all") >= set().union(*(extra_requirements(e) for e in deps.EXTRAS))


def test_the_distribution_name_is_not_kcli() -> None:
    assert pyproject()["project"]["name"] == deps.DISTRIBUTION == "kcli-korean"
    assert pyproject()["project"]["scripts"] == {"kcli": "kcli.main:main"}
    assert pyproject()["project"]["requires-python"].startswith(">=3.11")


def test_require_names_the_extra_that_carries_a_missing_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(deps.EXTRAS, "crawl", ("scrapy", "no_such_module_kcli"))
    with pytest.raises(MissingDependencyError) as raised:
        deps.require_extra("crawl", "kcli crawl")
    assert str(raised.value) == ("kcli crawl needs the crawl extra (no_such_module_kcli is not installed): "
                                 "pip install 'kcli-korean[crawl]'")
    monkeypatch.setitem(deps._EXTRA_OF, "no_such_module_kcli", "models")
    with pytest.raises(MissingDependencyError) as raised:
        deps.require("no_such_module_kcli.sub", "no-such")
    assert str(raised.value).endswith("install it with: pip install 'kcli-korean[models]'")
    with pytest.raises(MissingDependencyError) as raised:
        deps.require("another_missing_kcli", "another-missing")
    assert str(raised.value).endswith("install it with: pip install another-missing")
