"""kdata.bundled: names resolve to real files, bad names and archive installs are one-line kdata errors."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from kdata.bundled import BundledDataError, bundled_name, bundled_path
from kdata.errors import KcliError
from tests.helpers.cli import REPO

ZIPPED = ("kdata/__init__.py", "kdata/errors.py", "kdata/bundled/__init__.py", "kdata/bundled/filters/demo.toml")


def test_names_resolve_to_files_in_the_package() -> None:
    assert bundled_path("samples/images") == REPO / "kdata" / "bundled" / "samples" / "images"
    assert bundled_path("prompts/k-contents-prompts.jsonl").is_file()
    assert bundled_name("samples/images") == "kdata.bundled:samples/images"


@pytest.mark.parametrize(("name", "message"), [
    ("samples/nothing.jpg", "bundled data 'samples/nothing.jpg' is missing from "),
    ("../samples.py", "'../samples.py' is not a relative name under kdata.bundled"),
    ("/etc/passwd", "'/etc/passwd' is not a relative name under kdata.bundled"),
    ("", "'' is not a relative name under kdata.bundled"),
])
def test_bad_names_are_kdata_errors(name: str, message: str) -> None:
    with pytest.raises(BundledDataError) as raised:
        bundled_path(name)
    assert isinstance(raised.value, KcliError) and str(raised.value).startswith(message)


def test_kdata_imported_from_a_zip_says_its_data_needs_a_folder(tmp_path: Path) -> None:
    archive = tmp_path / "kdata.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name in ZIPPED:
            zipped.write(REPO / name, name)
    code = "from kdata.bundled import bundled_path; bundled_path('filters/demo.toml')"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(archive)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "BundledDataError: kdata.bundled is imported from " in done.stderr and "not from a folder" in done.stderr
