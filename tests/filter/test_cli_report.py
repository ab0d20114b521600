"""``kcli filter`` as a user runs it: default config, JSON result, the report files, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from tests.helpers.cli import kcli


def test_filter_default_config_writes_manifest_and_report(sample_manifest) -> None:  # noqa: ANN001
    out = Path(sample_manifest.path).parent / "filtered"
    done = kcli("filter", str(sample_manifest.path), "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["stats"] == {"total": 22, "kept": 18, "dropped/blur": 1, "dropped/duplicate_of": 3}
    summary = json.loads((out / "report" / "summary.json").read_text(encoding="utf-8"))
    assert {(r["status"], r["reason"]): r["rows"] for r in summary["rows"]} == {
        ("ok", ""): 18, ("rejected", "duplicate_of"): 3, ("rejected", "blur"): 1}
    assert summary["thresholds"]["blur:blur_variance"] == 40.0
    histogram = Image.open(out / "report" / "hist_blur_variance.png")
    assert histogram.format == "PNG" and histogram.size == (600, 320)
    sheet = (out / "report" / "index.html").read_text(encoding="utf-8")
    assert "<h2>rejected: duplicate_of" in sheet and "thumbs/hanok-12-blurred.jpg" in sheet
    assert Image.open(out / "report" / "thumbs" / "hanok-12-blurred.jpg").size[0] <= 160
    again = json.loads(kcli("filter", str(sample_manifest.path), "--out", str(out), "--json").stdout)
    assert again["shards_skipped"] == 2 and again["fingerprint"] == result["fingerprint"]


def test_filter_user_errors_are_one_line(sample_manifest, tmp_path: Path) -> None:  # noqa: ANN001
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rules]]\nfilter = "sharpness"\n', encoding="utf-8")
    for args, message in (
        (["--config", str(tmp_path / "none.toml")], "error: config file not found"),
        (["--config", str(bad)], "error: unknown filter 'sharpness'; valid names:"),
    ):
        done = kcli("filter", str(sample_manifest.path), "--out", str(tmp_path / "out"), *args)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith(message)
    tmp = tmp_path / "changed.toml"
    tmp.write_text('[[rules]]\nfilter = "blur"\nmin_variance = 10.0\n', encoding="utf-8")
    first = kcli("filter", str(sample_manifest.path), "--config", str(tmp), "--out", str(tmp_path / "o2"))
    assert first.returncode == 0, first.stderr
    tmp.write_text('[[rules]]\nfilter = "blur"\nmin_variance = 20.0\n', encoding="utf-8")
    refused = kcli("filter", str(sample_manifest.path), "--config", str(tmp), "--out", str(tmp_path / "o2"))
    assert refused.returncode == 2 and "config.rules changed" in refused.stderr and "--overwrite" in refused.stderr
