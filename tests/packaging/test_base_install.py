"""``pip install .`` without extras: ingest, filter (no models) and inspect work; crawl and train lora say
which extra they need, in one line.

Method (offline, seconds): a fresh venv (``python -m venv --without-pip``, no system site-packages) whose
site-packages holds only the base dependencies of pyproject.toml and what they require in turn, each
linked from this environment's site-packages file by file as its distribution's RECORD lists them (dist-info
included, so pip sees them installed). A wheel of the checkout is built here and installed into the venv
with ``pip --python VENV/bin/python install --no-index``: with no index pip can only succeed when the
linked set satisfies every base requirement, so a base dependency missing from pyproject (or needing one
that is not there) fails the install. torch, scrapy, diffusers and the rest are not in the venv, which the
test checks before running the commands.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import Distribution, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from kdata.bundled import bundled_path
from tests.helpers.cli import REPO
from tests.packaging.declared import base_requirements, normalise
from tests.packaging.test_install import NOT_SOURCE

pytestmark = pytest.mark.slow


def base_closure() -> list[Distribution]:
    """The installed distributions the base requirements need, transitively (markers evaluated, no extras)."""
    pending = [Requirement(r) for r in base_requirements()]
    seen: dict[str, Distribution] = {}
    while pending:
        requirement = pending.pop()
        name = normalise(requirement.name)
        if name in seen:
            continue
        seen[name] = found = distribution(requirement.name)
        for extra in ("", *requirement.extras):
            pending += [r for raw in found.requires or []
                        if (r := Requirement(raw)).marker is None or r.marker.evaluate({"extra": extra})]
    return list(seen.values())


def link_distribution(found: Distribution, site: Path) -> None:
    """Symlink every file of ``found`` that lives in site-packages into ``site`` (scripts under bin/ are
    left out: the commands run here are the project's own)."""
    root = Path(found.locate_file(""))
    for entry in found.files or []:
        if entry.parts[0] == ".." or "__pycache__" in entry.parts:
            continue
        target = site / entry
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            target.symlink_to(root / entry)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("base-install")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True, timeout=120)
    site = Path(subprocess.run([str(root / "venv/bin/python"), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], capture_output=True, text=True, check=True).stdout.strip())
    for found in base_closure():
        link_distribution(found, site)
    shutil.copytree(REPO, root / "src", symlinks=True, ignore=NOT_SOURCE)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                            str(root / "dist"), str(root / "src")], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((root / "dist").glob("kcli_korean-*.whl"))
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(root / "venv/bin/python"), "install",
                           "--no-index", "--no-build-isolation", str(wheel)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PIP_FIND_LINKS": "", "PIP_CONSTRAINT": ""})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return root / "venv"


def run(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update({"HF_HUB_OFFLINE": "1", "COLUMNS": "200", "KCLI_HOME": str(cwd / "home"),
                "PATH": f"{venv / 'bin'}:/usr/bin:/bin"})
    return subprocess.run([str(venv / "bin" / args[0]), *args[1:]], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_the_venv_holds_no_extra(venv: Path, tmp_path: Path) -> None:
    code = ("import importlib.util, json; print(json.dumps({m: importlib.util.find_spec(m) is not None for m in "
            "['torch', 'scrapy', 'diffusers', 'nudenet', 'datasets', 'fastapi', 'pyarrow', 'kcli']}))")
    done = run(venv, tmp_path, "python", "-c", code)
    assert json.loads(done.stdout) == {"torch": False, "scrapy": False, "diffusers": False, "nudenet": False,
                                       "datasets": False, "fastapi": False, "pyarrow": True, "kcli": True}


def test_base_install_ingests_filters_and_inspects(venv: Path, tmp_path: Path) -> None:
    images = bundled_path("samples") / "images"
    ingested = run(venv, tmp_path, "kcli", "ingest", "folder", str(images), "--out", "m1", "--json")
    assert ingested.returncode == 0, ingested.stderr[-3000:]
    filtered = run(venv, tmp_path, "kcli", "filter", "m1", "--out", "m2", "--json")
    assert filtered.returncode == 0, filtered.stderr[-3000:]
    inspected = run(venv, tmp_path, "kcli", "inspect", "m2", "--json")
    assert inspected.returncode == 0, inspected.stderr[-3000:]
    summary = json.loads(inspected.stdout)
    assert summary["rows"] == len([p for p in images.iterdir() if p.suffix != ".json"])
    assert summary["kind"] == "image" and summary["lineage"][0]["stage"] == "filter"


@pytest.mark.parametrize(("args", "extra"), [(("crawl", "http://127.0.0.1:9/", "--out", "c"), "crawl"),
                                             (("train", "lora"), "train")])
def test_commands_that_need_an_extra_name_it_in_one_line(venv: Path, tmp_path: Path, args: tuple[str, ...],
                                                         extra: str) -> None:
    done = run(venv, tmp_path, "kcli", *args)
    assert done.returncode == 2
    command = " ".join(a for a in args[:2] if not a.startswith("http"))
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: kcli {command} needs the {extra} extra (")
    assert lines[0].endswith(f"is not installed): pip install 'kcli-korean[{extra}]'")
