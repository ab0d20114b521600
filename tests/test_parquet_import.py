"""Plain Parquet into kcli stages: a file written by the real ``datasets`` library (its Image layout, as Hub
exports hold it) is imported as an image manifest, and a table without images is refused in one line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from kdata.errors import ManifestSchemaError
from kdata.models.home import KCLI_HOME_ENV
from kdata.parquet_import import NO_BYTES, NOT_AN_IMAGE, open_input
from tests.helpers.cli import kcli

datasets = pytest.importorskip("datasets", reason="datasets is in the dev extra")


def png(width: int, height: int, color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def hub_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder like a Hub dataset: data/train-00000.parquet written by datasets with an Image column."""
    monkeypatch.setenv(KCLI_HOME_ENV, str(tmp_path / "home"))
    features = datasets.Features({"image": datasets.Image(), "text": datasets.Value("string")})
    rows = {"image": [{"bytes": png(160, 120, (200, 30, 30)), "path": None}, None,
                      {"bytes": b"not an image", "path": "x.jpg"}],
            "text": ["붉은 한옥 지붕", "no image", "broken"]}
    (tmp_path / "export" / "data").mkdir(parents=True)
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(tmp_path / "export/data/train-00000.parquet"))
    return tmp_path / "export"


def test_a_datasets_image_column_is_imported_once_with_every_row(hub_export: Path) -> None:
    manifest = open_input(hub_export, "filter")
    rows = manifest.read_table(["key", "status", "reason", "width", "height", "format", "text"]).to_pylist()
    assert rows == [
        {"key": "train-00000-00000000", "status": "ok", "reason": None, "width": 160, "height": 120,
         "format": "PNG", "text": "붉은 한옥 지붕"},
        {"key": "train-00000-00000001", "status": "failed", "reason": NO_BYTES, "width": None, "height": None,
         "format": None, "text": "no image"},
        {"key": "train-00000-00000002", "status": "failed", "reason": NOT_AN_IMAGE, "width": None, "height": None,
         "format": None, "text": "broken"},
    ]
    lineage = manifest.lineage_chain[0]
    assert (lineage["stage"], lineage["config"]["image_column"]) == ("import", "image")
    assert lineage["config"]["files"] == [str((hub_export / "data/train-00000.parquet").resolve())]
    assert open_input(hub_export, "filter").path == manifest.path  # imported once, reused


def test_plain_parquet_without_images_is_refused_naming_what_is_missing(tmp_path: Path) -> None:
    pq.write_table(pa.table({"ko": ["한복"], "en": ["hanbok"]}), tmp_path / "pairs.parquet")
    with pytest.raises(ManifestSchemaError) as raised:
        open_input(tmp_path / "pairs.parquet", "filter")
    assert str(raised.value) == (f"kcli filter needs the images: {tmp_path / 'pairs.parquet'} is plain Parquet "
                                 "without an image column (image_bytes, or a datasets Image column such as image); "
                                 "it has: ko, en")


@pytest.mark.slow  # two kcli processes, the filter's report included: over 10 s on a loaded machine
def test_kcli_filter_and_report_run_on_a_hub_export(hub_export: Path, tmp_path: Path) -> None:
    env = {KCLI_HOME_ENV: str(tmp_path / "home")}
    done = kcli("filter", str(hub_export), "--out", str(tmp_path / "filtered"), "--json", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(kcli("inspect", str(tmp_path / "filtered"), "--json").stdout)
    assert [step["stage"] for step in summary["lineage"]] == ["filter", "import"]
    assert summary["rows"] == 3
    report = kcli("report", str(hub_export), "--out", str(tmp_path / "report"), env=env)
    assert report.returncode == 0, report.stderr[-3000:]
    assert (tmp_path / "report" / "index.html").is_file()
