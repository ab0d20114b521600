"""Annotation files in AI-Hub's ink-painting layout: integer codes, several images per file under ``Paire``.

The archive's own reader decodes ``annotation.PaperType`` (1 is 화선지, any other code 순지) and
``annotation.Paint.Method`` (1-3 백묘법, 4-7 구륵법, 8-9 몰골법); labels come out of the shipped
``ink-painting`` mapping with English glosses, and a mapped column left null fails its row, loudly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kdata.bundled import bundled_path
from kdata.caption.config import caption_config_from_dict
from kdata.caption.stage import run_caption
from kdata.config import load_toml
from kdata.errors import ConfigError
from kdata.ingest.folder import FolderIngestConfig, ingest_folder
from kdata.ingest.mapping import SidecarMapping, apply_mapping, load_mapping
from tests.helpers.cli import kcli
from tests.ingest import images

PAPER = {1: ("화선지", "hwaseonji (Xuan paper)"), 2: ("순지", "sunji (pure mulberry hanji)")}
METHOD = {
    **dict.fromkeys((1, 2, 3), ("백묘법", "baekmyo (ink outline drawing)")),
    **dict.fromkeys((4, 5, 6, 7), ("구륵법", "gureuk (outlines filled with colour)")),
    **dict.fromkeys((8, 9), ("몰골법", "molgol (boneless, without outlines)")),
}
LABELS = "라벨링데이터/TL_수묵화"
SOURCES = "원천데이터/TS_수묵화"


def _annotation(paper: Any, method: Any, images_named: list[str], **extra: Any) -> dict[str, Any]:
    """One annotation file as AI-Hub ships it: codes in ``annotation``, the images it describes in ``Paire``."""
    return {"info": {"dataset": "수묵화", "version": "1.0"},
            "annotation": {"PaperType": paper, "Paint": {"Method": method, "Tool": 2}, "Paire": images_named, **extra}}


def _write(root: Path, name: str, annotation: dict[str, Any]) -> None:
    path = root / LABELS / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(annotation, ensure_ascii=False), encoding="utf-8")


def _image(root: Path, name: str, seed: int) -> None:
    path = root / SOURCES / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(images.jpeg(48, 40, seed=seed))


def aihub_archive(root: Path, per_file: int = 3) -> Path:
    """Every method code 1-9, each once on paper 1 and once on paper 2; ``per_file`` images per file."""
    seed = 0
    for method in range(1, 10):
        for paper in (1, 2):
            stem = f"IP_{method}{paper}"
            named = [f"{stem}_{i}.jpg" for i in range(per_file)]
            _write(root, f"{stem}.json", _annotation(paper, method, named))
            for name in named:
                seed += 1
                _image(root, name, seed)
    return root


def _rows(root: Path, out: Path, mapping: SidecarMapping | None = None) -> tuple[dict[str, dict], dict[str, int]]:
    config = FolderIngestConfig(root=str(root), mapping=mapping or load_mapping("ink-painting"), shard_size=16)
    result = ingest_folder(config, out)
    return {r["key"]: r for r in result.manifest.read_table().to_pylist()}, result.stats


def test_every_code_maps_to_its_label_and_gloss_for_every_image_a_file_names(tmp_path: Path) -> None:
    rows, stats = _rows(aihub_archive(tmp_path / "aihub"), tmp_path / "out")
    assert stats == {"total": 54, "kept": 54}
    expected = {}
    for method in range(1, 10):
        for paper in (1, 2):
            for i in range(3):
                key = f"{SOURCES}/IP_{method}{paper}_{i}"
                expected[key] = ("ok", None, *PAPER[paper], *METHOD[method], f"{LABELS}/IP_{method}{paper}.json")
    got = {k: (r["status"], r["reason"], r["paper_type"], r["paper_type_en"], r["method"], r["method_en"],
               r["annotation_file"]) for k, r in rows.items()}
    assert got == expected
    assert all(r["image_bytes"] and r["width"] == 48 for r in rows.values())


@pytest.mark.parametrize(
    ("paper", "method", "outcome"),
    [
        (1, 9, ("ok", None, "화선지", "몰골법")),
        (0, 4, ("ok", None, "순지", "구륵법")),  # PaperType: every code but 1 is 순지, as the archive's reader has it
        (7, 3.0, ("ok", None, "순지", "백묘법")),  # a code written as 3.0 is still code 3
        ("1", "8", ("ok", None, "화선지", "몰골법")),  # codes exported as text
        (1, 10, ("rejected", "unexpected_value:method=10", "화선지", 10)),  # no method 10: rejected, not guessed
        (1, "수묵법", ("rejected", "unexpected_value:method=수묵법", "화선지", "수묵법")),  # text is never defaulted
        (1, None, ("failed", "mapping_null:method", "화선지", None)),
        (None, None, ("failed", "mapping_null:paper_type,method", None, None)),
    ],
)
def test_codes_out_of_table_are_rejected_and_missing_ones_fail(paper: Any, method: Any, outcome: tuple) -> None:
    mapped = apply_mapping(_annotation(paper, method, ["x.jpg"]), load_mapping("ink-painting"))
    row = mapped.columns
    status = "failed" if mapped.failed else "rejected" if mapped.rejected else "ok"
    assert (status, mapped.failed or mapped.rejected, row["paper_type"], row["method"]) == outcome


def test_images_and_names_without_a_partner_each_get_a_row_with_a_reason(tmp_path: Path) -> None:
    root = tmp_path / "aihub"
    _write(root, "A.json", _annotation(1, 2, ["A_0.jpg", "A_1.jpg", "A_gone.jpg", "A_0.jpg"]))
    _write(root, "B.json", _annotation(2, 5, ["B_0.jpg", "shared.jpg"]))
    _write(root, "C.json", _annotation(2, 8, ["shared.jpg", "dup.jpg"]))
    _write(root, "D.json", _annotation(1, 1, []))  # names no image
    _write(root, "broken.json", {"x": 1})
    (root / LABELS / "broken.json").write_text("{not json", encoding="utf-8")
    for seed, name in enumerate(["A_0.jpg", "A_1.jpg", "B_0.jpg", "shared.jpg", "stray.jpg"]):
        _image(root, name, seed)
    for seed, folder in enumerate(["p", "q"]):
        (root / SOURCES / folder).mkdir()
        (root / SOURCES / folder / "dup.jpg").write_bytes(images.jpeg(seed=seed))
    rows, stats = _rows(root, tmp_path / "out")
    got = {k: (r["status"], r["reason"], r["annotation_file"]) for k, r in rows.items()}
    assert got == {
        f"{SOURCES}/A_0": ("ok", None, f"{LABELS}/A.json"),  # named twice by one file: one row
        f"{SOURCES}/A_1": ("ok", None, f"{LABELS}/A.json"),
        f"{SOURCES}/B_0": ("ok", None, f"{LABELS}/B.json"),
        f"{SOURCES}/shared": ("failed", "several_annotations:2", f"{LABELS}/B.json"),
        f"{SOURCES}/stray": ("failed", "no_metadata", None),
        f"{SOURCES}/p/dup": ("failed", "ambiguous_name:dup.jpg", f"{LABELS}/C.json"),
        f"{SOURCES}/q/dup": ("failed", "ambiguous_name:dup.jpg", f"{LABELS}/C.json"),
        "A_gone": ("failed", "missing_file", f"{LABELS}/A.json"),
        f"{LABELS}/D.json": ("failed", "bad_annotation:no_image_names(annotation.Paire)", f"{LABELS}/D.json"),
        f"{LABELS}/broken.json": ("failed", "bad_sidecar:JSONDecodeError", f"{LABELS}/broken.json"),
    }
    gone = rows["A_gone"]
    assert (gone["file"], gone["paper_type"], gone["method"]) == ("A_gone.jpg", "화선지", "백묘법")
    assert stats["failed/missing_file"] == 1 and stats["failed/no_metadata"] == 1 and stats["kept"] == 3


def test_a_path_in_paire_picks_one_of_two_images_with_the_same_name(tmp_path: Path) -> None:
    root = tmp_path / "aihub"
    _write(root, "A.json", _annotation(1, 2, [f"{SOURCES}/p/dup.jpg"]))
    _write(root, "B.json", _annotation(2, 9, [f"{SOURCES}\\q\\dup.jpg"]))  # written on Windows
    for seed, folder in enumerate(["p", "q"]):
        (root / SOURCES / folder).mkdir(parents=True)
        (root / SOURCES / folder / "dup.jpg").write_bytes(images.jpeg(seed=seed))
    rows, _ = _rows(root, tmp_path / "out")
    assert {k: (r["status"], r["paper_type"], r["method"]) for k, r in rows.items()} == {
        f"{SOURCES}/p/dup": ("ok", "화선지", "백묘법"), f"{SOURCES}/q/dup": ("ok", "순지", "몰골법")}


def test_the_per_image_text_layout_still_reads_beside_annotation_files(tmp_path: Path) -> None:
    root = aihub_archive(tmp_path / "aihub")
    (root / "old.jpg").write_bytes(images.jpeg(seed=99))
    (root / "old.json").write_text(json.dumps({"title": "매화", "annotation": {"paper": {"type": "순지"},
                                                                              "technique": {"method": "구륵법"}}},
                                              ensure_ascii=False), encoding="utf-8")
    (root / "hanbok.jpg").write_bytes(images.jpeg(seed=98))
    (root / "hanbok.json").write_text(json.dumps({"category": "hanbok"}), encoding="utf-8")  # not an ink painting
    rows, stats = _rows(root, tmp_path / "out")
    old, hanbok = rows["old"], rows["hanbok"]
    assert (old["status"], old["paper_type_en"], old["method"]) == ("ok", "sunji (pure mulberry hanji)", "구륵법")
    assert (hanbok["status"], hanbok["paper_type"], hanbok["category"]) == ("ok", None, "hanbok")  # outside the scope
    assert stats == {"total": 56, "kept": 56}


# The ink-painting mapping as it shipped before it read AI-Hub's layout: texts at annotation.paper.type.
STALE_MAPPING = """description = "ink painting, text layout"
carry_top_level = true
[columns]
paper_type = "annotation.paper.type"
method = "annotation.technique.method"
[allowed]
paper_type = ["화선지", "순지"]
method = ["백묘법", "구륵법", "몰골법"]
"""


def test_a_null_mapped_column_fails_its_row_and_the_run_says_which(tmp_path: Path) -> None:
    """AI-Hub annotations as per-image sidecars, read with paths from another layout: every row fails with
    the columns it lacks, and the command's stats name them, instead of ``ok`` rows with null columns."""
    root = tmp_path / "sidecars"
    root.mkdir()
    for seed, (method, paper) in enumerate((m, p) for m in range(1, 10) for p in (1, 2)):
        (root / f"IP_{method}{paper}.jpg").write_bytes(images.jpeg(48, 40, seed=seed))
        annotation = _annotation(paper, method, [f"IP_{method}{paper}.jpg"])
        (root / f"IP_{method}{paper}.json").write_text(json.dumps(annotation), encoding="utf-8")
    stale = tmp_path / "stale.toml"
    stale.write_text(STALE_MAPPING, encoding="utf-8")
    done = kcli("ingest", "folder", str(root), "--out", str(tmp_path / "out"), "--mapping", str(stale), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["stats"] == {"total": 18, "failed/mapping_null": 18,
                                                "mapping_null/paper_type": 18, "mapping_null/method": 18}
    table = kcli("ingest", "folder", str(root), "--out", str(tmp_path / "out"), "--mapping", str(stale))
    assert "failed/mapping_null" in table.stdout and "mapping_null/paper_type" in table.stdout  # what a person sees
    rows, _ = _rows(root, tmp_path / "lib", load_mapping(str(stale)))
    assert {(r["status"], r["reason"]) for r in rows.values()} == {("failed", "mapping_null:paper_type,method")}


def test_the_stale_mapping_on_the_real_layout_fails_every_image_it_finds_no_metadata_for(tmp_path: Path) -> None:
    """Without ``images``, no annotation file is an image's sidecar: every image fails ``no_metadata``."""
    stale = tmp_path / "stale.toml"
    stale.write_text(STALE_MAPPING, encoding="utf-8")
    rows, stats = _rows(aihub_archive(tmp_path / "aihub", per_file=1), tmp_path / "out", load_mapping(str(stale)))
    assert stats == {"total": 18, "failed/no_metadata": 18}


def test_a_column_may_be_declared_optional(tmp_path: Path) -> None:
    mapping = SidecarMapping(columns={"paper_type": "annotation.PaperType", "tool": "annotation.Brush"},
                             optional=["tool"], values={"paper_type": {"1": "화선지", "otherwise": "순지"}})
    mapped = apply_mapping(_annotation(1, 1, ["x.jpg"]), mapping)
    assert (mapped.columns["paper_type"], mapped.columns["tool"], mapped.failed) == ("화선지", None, None)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ('[columns]\nm = "a.M"\n[values.m]\n"1-3" = "x"\n"3-5" = "y"\n', "[values.m] '1-3' and '3-5' overlap"),
        ('[columns]\nm = "a.M"\n[values.m]\n"1-3" = "x"\n2 = "y"\n', "[values.m] '1-3' and '2' overlap"),
        ('[columns]\nm = "a.M"\n[values.m]\n"5-1" = "x"\n', "range '5-1' runs backwards"),
        ('[columns]\nm = "a.M"\n[values.m]\n1 = 2\n', "values.m.1 = 2: expected str"),
        ('[columns]\nm = "a.M"\n[values.n]\n1 = "x"\n', "[values] names 'n', which is not in [columns]"),
        ('[columns]\nm = "a.M"\n[values.m]\n1 = "x"\n2 = "y"\n[english.m]\nx = "ex"\n',
         "[english.m] has no gloss for 'y'"),
        ('[columns]\nm = "a.M"\n[values.m]\n1 = "x"\n[allowed]\nm = ["z"]\n', "gives 'x', which [allowed] does not"),
        ('[columns]\nm = []\n', "[columns] m must be a dotted path or a list of them"),
        ('optional = ["n"]\n[columns]\nm = "a.M"\n', "[optional] names 'n'"),
    ],
)
def test_bad_value_tables_are_one_line_errors(tmp_path: Path, mapping: str, message: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(mapping, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_mapping(str(path))
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_annotation_files_and_one_metadata_file_are_refused_together(tmp_path: Path) -> None:
    root = aihub_archive(tmp_path / "aihub")
    (root / "metadata.jsonl").write_text('{"file_name": "x.jpg"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="reads annotation files that name their images"):
        _rows(root, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# The shipped caption configs with their models swapped for the offline tiny presets.
TINY_MODELS = {"facebook/nllb-200-distilled-600M": "tiny-translator-en-ko",
               "Salesforce/blip-image-captioning-large": "tiny-captioner"}


def _shipped_caption_config(name: str) -> dict[str, Any]:
    data = load_toml(bundled_path(f"caption/{name}.toml"))
    for table in (*data.get("ko", []), *data.get("en", [])):
        if "model" in table:
            table["model"] = TINY_MODELS.get(table["model"], table["model"])
            table["max_new_tokens"] = 4
    return data


@pytest.mark.parametrize(
    ("config", "skipped"),
    [
        ("ink-painting", ["en[0]:template", "en[2]:alt_text", "ko[0]:template", "ko[2]:alt_text"]),
        ("demo", ["en[1]:template", "ko[1]:alt_text"]),
    ],
)
def test_shipped_caption_configs_caption_every_row_the_shipped_mapping_ingests(tmp_path: Path, config: str,
                                                                             skipped: list[str]) -> None:
    ingested = ingest_folder(FolderIngestConfig(root=str(aihub_archive(tmp_path / "aihub", per_file=1)),
                                                mapping=load_mapping("ink-painting")), tmp_path / "ink")
    assert ingested.stats == {"total": 18, "kept": 18}
    result = run_caption(ingested.manifest.path, caption_config_from_dict(_shipped_caption_config(config)),
                         tmp_path / "captioned")
    table = result.manifest.read_table()
    assert {"paper_type", "paper_type_en", "method", "method_en", "annotation_file", "caption_ko", "caption_en",
            "caption_ko_source", "caption_en_source"} <= set(table.column_names)
    assert "alt_text" not in table.column_names and "caption_en_input" not in table.column_names
    assert result.manifest.lineage_chain[0]["config"]["skipped"] == skipped
    for row in table.to_pylist():
        paper, method = int(row["key"][-3]), int(row["key"][-4])  # .../IP_<method><paper>_0
        paper_ko, paper_en = PAPER[paper]
        method_ko, method_en = METHOD[method]
        assert (row["status"], row["caption_ko"], row["caption_ko_source"]) == (
            "ok", f"{paper_ko}에 {method_ko}으로 그린 수묵화", "template")
        assert (row["caption_en"], row["caption_en_source"]) == (
            f"a Korean ink painting, {method_en} on {paper_en}", "template")
