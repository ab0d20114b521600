"""The CLI surface: help never imports torch, user errors are one line without a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.cli import kcli, python


def _groups() -> list[list[str]]:
    from kcli.main import COMMANDS

    return [[]] + [[name] for name in COMMANDS]


@pytest.mark.parametrize("group", _groups(), ids=lambda g: " ".join(g) or "kcli")
def test_help_answers_without_importing_torch(group: list[str]) -> None:
    probe = (
        "import sys, runpy; sys.argv = ['kcli', *sys.argv[1:], '--help'];\n"
        "try:\n    runpy.run_module('kcli', run_name='__main__')\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "heavy = [m for m in ('torch', 'transformers', 'diffusers', 'open_clip') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = python("-c", probe, *group)
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout


def test_inspect_missing_path_is_one_line_error() -> None:
    done = kcli("inspect", "/definitely/not/here")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: no such manifest: /definitely/not/here"]
    assert "Traceback" not in done.stderr


def test_inspect_on_a_non_parquet_file_and_on_garbage_shards(tmp_path: Path, sample_manifest) -> None:  # noqa: ANN001
    text_file = tmp_path / "notes.parquet"
    text_file.write_text("hello")
    done = kcli("inspect", str(text_file))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert f"{text_file} is not a readable Parquet file" in done.stderr  # inspect reads plain Parquet files too
    sample_manifest.shard_paths[0].write_bytes(b"not parquet at all")
    done = kcli("inspect", str(sample_manifest.path))
    assert done.returncode == 2 and "not a readable Parquet file" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_inspect_json_reports_funnel_lineage_and_column_summaries(sample_manifest) -> None:  # noqa: ANN001
    done = kcli("inspect", str(sample_manifest.path), "--json", "--samples", "2")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["rows"] == 22 and summary["kind"] == "image"
    assert summary["funnel"] == [{"status": "ok", "reason": "", "rows": 22}]
    assert summary["lineage"][0]["stage"] == "samples"
    assert summary["columns"]["alt_text"]["script"] == {"hangul": 22, "latin": 0, "mixed": 0, "other": 0}
    assert len(summary["samples"]) == 2 and "image_bytes" not in summary["samples"][0]


def test_verify_marks_broken_rows_failed_and_resumes(tmp_path: Path) -> None:
    import pyarrow as pa

    from kdata.manifest import Lineage, write_manifest
    from kdata.samples import sample_rows
    from kdata.schema import IMAGE, conform_table

    rows = sample_rows()[:3]
    rows[1]["image_bytes"] = rows[1]["image_bytes"][:200]  # truncated JPEG
    rows[2]["sha256"] = "0" * 64
    write_manifest(tmp_path / "in", [conform_table(pa.Table.from_pylist(rows), IMAGE)], IMAGE,
                   Lineage(stage="unit", config={}))
    done = kcli("verify", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["stats"] == {"total": 3, "kept": 1, "failed/undecodable": 1, "failed/sha256_mismatch": 1}
    again = json.loads(kcli("verify", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--json").stdout)
    assert again["shards_skipped"] == 1 and again["fingerprint"] == result["fingerprint"]


def test_unknown_command_suggests_help() -> None:
    done = kcli("frobnicate")
    assert done.returncode != 0 and "Traceback" not in done.stderr


@pytest.mark.parametrize("argv", [["--version"], ["inspect", "/no/such/manifest"]])
def test_main_freezes_the_collector_on_its_way_out(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> None:
    """A clean exit and a user error alike leave with every object frozen, so the interpreter's exit does
    not walk them all once more."""
    import atexit
    import gc
    import sys

    from kcli.main import main

    registered: list[object] = []
    monkeypatch.setattr(atexit, "register", registered.append)
    monkeypatch.setattr(sys, "argv", ["kcli", *argv])
    with pytest.raises(SystemExit):
        main()
    assert gc.freeze in registered
