"""kcli installed as a user installs it (a wheel, not editable) runs ``kcli demo`` from any folder: the
wheel carries every data file the packages read, and the code that runs is the installed copy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kdata.manifest import open_manifest
from kdata.models.home import KCLI_HOME_ENV
from tests.e2e.demo_cli import assert_demo_finished, run_demo_cli
from tests.helpers.cli import REPO

pytestmark = pytest.mark.slow

PACKAGES = ("kcli", "kdata", "ktrain")
# What a checkout holds besides its source. The wheel is built from a copy without these: setuptools reuses
# an existing build/lib, so a module deleted from the source (the old top-level ``cli``) would ship again.
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "*.pyc",
                                    ".pytest_cache", ".ruff_cache", "kcli-demo", "test-artifacts", "bench")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install --target`` of this checkout: a plain folder of installed packages."""
    root = tmp_path_factory.mktemp("install")
    shutil.copytree(REPO, root / "src", symlinks=True, ignore=NOT_SOURCE)
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                           "--target", str(root / "site"), str(root / "src")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return root / "site"


def installed_env(site: Path, home: Path) -> dict[str, str]:
    """Only the install on the path (the checkout and its editable install are not), a fresh kcli home."""
    return {**os.environ, "PYTHONPATH": str(site), KCLI_HOME_ENV: str(home), "HF_HUB_OFFLINE": "1"}


def test_install_holds_every_package_file_and_nothing_else_at_the_top(site: Path) -> None:
    source = {p.relative_to(REPO) for package in PACKAGES for p in (REPO / package).rglob("*")
              if p.is_file() and "__pycache__" not in p.parts}
    assert sorted(str(f) for f in source if not (site / f).is_file()) == []
    bundled = site / "kdata" / "bundled"
    installed = {p.relative_to(bundled).as_posix() for p in bundled.rglob("*") if p.is_file()}
    assert {"samples/site/robots.txt", "samples/images/hanok-13.jpg", "samples/images/hanok-13.json",
            "prompts/k-contents-prompts.jsonl", "corpus/k-contents-ko-en.jsonl", "filters/demo.toml",
            "caption/demo.toml"} <= installed
    top = sorted(p.name for p in site.iterdir() if p.name != "bin" and not p.name.endswith(".dist-info"))
    assert top == sorted(PACKAGES)  # no top-level cli module, no manifests link, no tests


def test_installed_packages_import_from_the_install(site: Path, tmp_path: Path) -> None:
    code = ("import json, kcli, kdata, ktrain; from kdata.bundled import bundled_path; "
            "print(json.dumps([kcli.__file__, kdata.__file__, ktrain.__file__, str(bundled_path('samples'))]))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=installed_env(site, tmp_path / "home"),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-4000:]
    for path in json.loads(done.stdout):
        assert Path(path).resolve().is_relative_to(site.resolve()), path


def test_installed_demo_runs_from_another_folder(site: Path, tmp_path: Path) -> None:
    elsewhere, workdir = tmp_path / "elsewhere", tmp_path / "demo"
    elsewhere.mkdir()
    steps = run_demo_cli(workdir, cwd=elsewhere, env=installed_env(site, tmp_path / "home"))
    assert_demo_finished(workdir, steps)
    # The demo read the installed samples: ingest's resolved config names the folder it read.
    root = Path(open_manifest(workdir / "01-ingest").lineage_chain[0]["config"]["root"])
    assert root.resolve() == (site / "kdata" / "bundled" / "samples" / "images").resolve()
    assert list(elsewhere.iterdir()) == []
