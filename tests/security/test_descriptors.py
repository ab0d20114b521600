"""Malformed descriptors and status values: a one-line error naming the field, never a traceback.

``manifest.json`` and the ``status`` column are data like any other: a hand-edited or hostile manifest
must be refused when it is opened, before any stage scores, exports or renders a row of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kdata.errors import ManifestError
from kdata.manifest import DESCRIPTOR, Lineage, open_manifest, write_manifest
from kdata.samples import sample_rows
from kdata.schema import IMAGE, conform_table
from tests.helpers.cli import kcli

Edit = Callable[[dict[str, Any]], None]


def _set(key: str, value: Any) -> Edit:
    return lambda d: d.__setitem__(key, value)


def _drop(key: str) -> Edit:
    return lambda d: d.pop(key)


def _shard(key: str, value: Any) -> Edit:
    return lambda d: d["shards"][0].__setitem__(key, value)


def _lineage(key: str, value: Any) -> Edit:
    return lambda d: d["lineage"].__setitem__(key, value)


def _nested(depth: int) -> Edit:
    return lambda d: d.__setitem__("_raw", '{"lineage": ' + "[" * depth + "]" * depth + "}")


# (edit, words the one-line error must contain)
BROKEN: dict[str, tuple[Edit, tuple[str, ...]]] = {
    "schema_version_text": (_set("schema_version", "1"), ("schema_version", "'1'")),
    "schema_version_null": (_set("schema_version", None), ("schema_version", "None")),
    "schema_version_bool": (_set("schema_version", True), ("schema_version",)),
    "schema_version_zero": (_set("schema_version", 0), ("schema_version",)),
    "schema_version_newer": (_set("schema_version", 99), ("schema version 99", "upgrade kcli")),
    "shards_text": (_set("shards", "oops"), ("shards", "'oops'")),
    "shards_of_text": (_set("shards", ["shard-00000.parquet"]), ("shards[0]",)),
    "shard_file_missing": (lambda d: d["shards"][0].pop("file"), ("shards[0]", "file")),
    "shard_file_number": (_shard("file", 7), ("shards[0].file",)),
    "shard_file_absolute": (_shard("file", "/etc/passwd"), ("shards[0].file",)),
    "shard_rows_text": (_shard("rows", "3"), ("shards[0].rows",)),
    "shard_rows_negative": (_shard("rows", -1), ("shards[0].rows",)),
    "shard_sha256_bad": (_shard("sha256", "xyz"), ("shards[0].sha256",)),
    "num_rows_text": (_set("num_rows", "many"), ("num_rows",)),
    "num_rows_wrong": (_set("num_rows", 99), ("num_rows", "99")),
    "kind_number": (_set("kind", 5), ("kind",)),
    "kind_unknown": (_set("kind", "video"), ("kind", "video")),
    "lineage_text": (_set("lineage", "x"), ("lineage",)),
    "ancestors_text": (_set("ancestors", "x"), ("ancestors",)),
    "ancestors_of_text": (_set("ancestors", ["x"]), ("ancestors[0]",)),
    "ancestor_without_stage": (_set("ancestors", [{"config": {}}]), ("ancestors[0].stage",)),
    "lineage_config_list": (_lineage("config", [1]), ("lineage.config",)),
    "lineage_parent_number": (_lineage("parent_fingerprint", 5), ("lineage.parent_fingerprint",)),
    "fingerprint_path": (_set("fingerprint", "../../x"), ("fingerprint",)),
    "fingerprint_null": (_set("fingerprint", None), ("fingerprint",)),
    "blob_dirs_text": (_set("blob_dirs", "blobs"), ("blob_dirs",)),
    "blob_dirs_nul": (_set("blob_dirs", ["a\x00b"]), ("blob_dirs[0]",)),
    "stats_text": (_set("stats", "x"), ("stats",)),
    "missing_shards": (_drop("shards"), ("shards",)),
    "missing_fingerprint": (_drop("fingerprint"), ("fingerprint",)),
    "a_list": (lambda d: (d.clear(), d.__setitem__("_list", True)), ()),
    "deeply_nested": (_nested(100_000), ("manifest.json",)),
}


def _manifest(path: Path) -> Path:
    table = conform_table(pa.Table.from_pylist(sample_rows()[:3]), IMAGE)
    return write_manifest(path, [table], IMAGE, Lineage(stage="unit", config={})).path


def _break(path: Path, name: str) -> None:
    edit = BROKEN[name][0]
    descriptor = json.loads((path / DESCRIPTOR).read_text())
    edit(descriptor)
    text = json.dumps([1, 2]) if descriptor.pop("_list", False) else descriptor.pop("_raw", None)
    (path / DESCRIPTOR).write_text(text or json.dumps(descriptor))


def _set_status(path: Path, values: list[str | None]) -> None:
    shard = next((path / "data").glob("*.parquet"))
    table = pq.read_table(shard)
    table = table.set_column(table.schema.get_field_index("status"), "status", pa.array(values, pa.string()))
    pq.write_table(table, shard)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_open_refuses_a_broken_descriptor_in_one_line(tmp_path: Path, name: str) -> None:
    path = _manifest(tmp_path / "m")
    _break(path, name)
    with pytest.raises(ManifestError) as info:
        open_manifest(path)
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    for word in BROKEN[name][1]:
        assert word in message, message


@pytest.mark.parametrize(("values", "words"), [
    (["ok", None, "ok"], ("status", "null", "shard-00000.parquet")),
    (["ok", "maybe", "ok"], ("status", "'maybe'", "ok, rejected, failed")),
])
def test_open_refuses_an_unknown_status(tmp_path: Path, values: list[str | None], words: tuple[str, ...]) -> None:
    path = _manifest(tmp_path / "m")
    _set_status(path, values)
    with pytest.raises(ManifestError) as info:
        open_manifest(path)
    for word in words:
        assert word in str(info.value), str(info.value)


def test_a_written_manifest_still_opens(tmp_path: Path) -> None:
    path = _manifest(tmp_path / "m")
    assert open_manifest(path).num_rows == 3


COMMANDS = {
    "inspect": [],
    "verify": ["--out", "{out}"],
    "filter": ["--out", "{out}"],
    "publish": ["--to", "{out}"],
    "report": ["--out", "{out}"],
}


def _one_line_error(done, *words: str) -> None:  # noqa: ANN001 - a CompletedProcess
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in lines[0], lines[0]


# Every command opens its input the same way; the library tests above cover each field, these the commands.
CLI_CASES = [(command, name) for command in sorted(COMMANDS) for name in ("schema_version_text", "shards_text")]
CLI_CASES += [("inspect", "schema_version_null"), ("publish", "schema_version_null")]


@pytest.mark.parametrize(("command", "name"), CLI_CASES)
def test_every_command_refuses_a_broken_descriptor(tmp_path: Path, name: str, command: str) -> None:
    path = _manifest(tmp_path / "m")
    _break(path, name)
    out = tmp_path / "out"
    done = kcli(command, str(path), *(a.format(out=out) for a in COMMANDS[command]))
    _one_line_error(done, *BROKEN[name][1])
    assert not out.exists()


@pytest.mark.parametrize(("command", "value"), [(command, None) for command in sorted(COMMANDS)]
                         + [("inspect", "maybe"), ("filter", "maybe")])
def test_every_command_refuses_an_unknown_status_before_any_work(tmp_path: Path, command: str,
                                                                 value: str | None) -> None:
    path = _manifest(tmp_path / "m")
    _set_status(path, ["ok", value, "ok"])
    out = tmp_path / "out"
    done = kcli(command, str(path), *(a.format(out=out) for a in COMMANDS[command]))
    _one_line_error(done, "'status'", "null" if value is None else repr(value))
    assert not out.exists()  # refused when opened: nothing scored, nothing written
