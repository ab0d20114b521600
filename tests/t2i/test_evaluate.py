"""``evaluate_t2i`` end to end on tiny presets: every row, every column, every number, both reports, resume."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import pytest

from kdata.errors import ConfigError
from kdata.markup import md_code, md_text
from kdata.progress import ProgressEvent
from ktrain.t2i.evaluate import T2IEvalConfig, evaluate_t2i
from tests.t2i.tiny import KOREAN_ONLY, write_prompts

COLUMNS = ["prompt_id", "category", "pipeline", "seed", "prompt_ko", "prompt_en", "prompt_used", "image",
           "translate_s", "search_s", "text_encode_s", "denoise_s", "upscale_s", "decode_s", "refine_s", "text_stage_s",
           "total_s", "clip_en", "clip_ko", "neighbour_en", "neighbour_score"]
PIPELINES = ["ko-encoder", "translate", "english-reference"]


def _config(tmp: Path, encoder: Path, **changes: object) -> T2IEvalConfig:
    settings = dict(base="tiny-sd", out=str(tmp / "eval"), pipelines=PIPELINES,
                    prompts=str(write_prompts(tmp / "prompts.jsonl")), text_encoder=str(encoder),
                    translator="tiny-translator-ko-en", english_clip="tiny-clip", korean_clip="tiny-open-clip",
                    steps=2, warmup=1)
    return T2IEvalConfig(**{**settings, **changes})


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory, encoder_folder: Path) -> tuple[Path, object, list]:
    import torch

    torch.set_num_threads(1)  # module-scoped: the autouse one-thread fixture is per test
    tmp = tmp_path_factory.mktemp("t2i-eval")
    events: list[ProgressEvent] = []
    result = evaluate_t2i(_config(tmp, encoder_folder), progress=events.append)
    return tmp, result, events


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def test_csv_has_one_row_per_prompt_and_pipeline_with_every_number(evaluated: tuple) -> None:
    tmp, result, events = evaluated
    header, rows = _rows(result.csv)
    assert header == COLUMNS
    assert [(r["prompt_id"], r["pipeline"], r["seed"]) for r in rows] == [
        ("hanok-a", p, "0") for p in PIPELINES] + [("food-b", p, "1") for p in PIPELINES]
    for row in rows:
        numbers = {c: float(row[c]) for c in COLUMNS[8:-2]}
        assert (row["neighbour_en"], row["neighbour_score"], numbers["search_s"]) == ("", "", 0.0), row
        assert all(math.isfinite(v) for v in numbers.values()), row
        assert all(numbers[c] > 0 for c in ("text_encode_s", "denoise_s", "decode_s")), row
        assert (numbers["translate_s"] > 0) == (row["pipeline"] == "translate"), row
        assert numbers["text_stage_s"] == pytest.approx(numbers["translate_s"] + numbers["text_encode_s"], abs=2e-6)
        assert numbers["total_s"] == pytest.approx(numbers["text_stage_s"] + numbers["denoise_s"] + numbers["decode_s"],
                                                   abs=4e-6)
        assert 0 <= numbers["clip_en"] <= 100 and 0 <= numbers["clip_ko"] <= 100
        assert row["image"] == f"images/{row['pipeline']}/{row['prompt_id']}.png"
        assert (tmp / "eval" / row["image"]).is_file()
    used = {(r["prompt_id"], r["pipeline"]): r["prompt_used"] for r in rows}
    assert used[("hanok-a", "ko-encoder")] == "눈 내린 한옥 마을"
    assert used[("hanok-a", "english-reference")] == "a hanok village in the snow"
    assert used[("food-b", "translate")] not in ("비빔밥 한 그릇", "a bowl of bibimbap", "")
    assert (result.generated, result.skipped) == (6, 0)
    last = [e for e in events if e.phase == "generate"][-1]
    assert (last.done, last.total, last.detail) == (6, 6, "english-reference")


def test_clip_scores_are_the_scorers_own_numbers(evaluated: tuple) -> None:
    from PIL import Image

    from ktrain.t2i.clipscore import ClipScorer

    tmp, result, _ = evaluated
    _, rows = _rows(result.csv)
    images = [Image.open(tmp / "eval" / r["image"]).convert("RGB") for r in rows]
    english = ClipScorer("tiny-clip").score(images, [r["prompt_en"] for r in rows])
    korean = ClipScorer("tiny-open-clip").score(images, [r["prompt_ko"] for r in rows])
    assert [float(r["clip_en"]) for r in rows] == [round(v, 4) for v in english]
    assert [float(r["clip_ko"]) for r in rows] == [round(v, 4) for v in korean]


def test_reports_carry_every_pipelines_means_and_medians_and_the_image_grid(evaluated: tuple) -> None:
    tmp, result, _ = evaluated
    _, rows = _rows(result.csv)
    summary = {s["pipeline"]: s for s in json.loads((tmp / "eval" / "summary.json").read_text())["pipelines"]}
    assert list(summary) == PIPELINES and all(s["n"] == 2 for s in summary.values())
    for name, entry in summary.items():
        mine = [float(r["denoise_s"]) for r in rows if r["pipeline"] == name]
        assert entry["denoise_s_mean"] == pytest.approx(sum(mine) / 2, abs=1e-6)
        clip_ko = [float(r["clip_ko"]) for r in rows if r["pipeline"] == name]
        assert entry["clip_ko_median"] == pytest.approx(sum(clip_ko) / 2, abs=1e-4)
    markdown = result.report_md.read_text(encoding="utf-8")
    table = [line for line in markdown.splitlines() if line.startswith(tuple(f"| {p} |" for p in PIPELINES))]
    assert [line.split(" | ")[0] for line in table] == [f"| {p}" for p in PIPELINES]
    assert all(len(re.findall(r"\d+\.\d+( ms)? / \d+\.\d+( ms)?", line)) == 9 for line in table)  # 9 metrics each
    assert f"{summary['translate']['total_s_median'] * 1000:.1f} ms" in markdown
    ratio = summary["translate"]["text_stage_s_median"] / summary["ko-encoder"]["text_stage_s_median"]
    assert f"translate / ko-encoder, text stage (translation + encoding): **{round(ratio, 3)}x**" in markdown
    page = result.report_html.read_text(encoding="utf-8")
    assert page.count("<img src='images/") == 6 and page.count("data-prompt=") == 2
    assert all(f"<td>{p}</td>" in page for p in PIPELINES)
    assert "눈 내린 한옥 마을" in page


def test_the_record_names_every_model_and_where_it_was_found(evaluated: tuple) -> None:
    """Before the resume test below rewrites the record with fewer pipelines."""
    tmp, _, _ = evaluated
    record = json.loads((tmp / "eval" / "eval_config.json").read_text(encoding="utf-8"))
    assert [(m["role"], m["spec"], m["default"], m["used_by"], m["found"]) for m in record["models"]] == [
        ("base", "tiny-sd", False, PIPELINES, "tiny preset"),
        ("text encoder", record["text_encoder"], False, ["ko-encoder"], "local"),
        ("translator", "tiny-translator-ko-en", False, ["translate"], "tiny preset"),
        ("English CLIP", "tiny-clip", False, ["clip_en"], "tiny preset"),
        ("Korean CLIP", "tiny-open-clip", False, ["clip_ko"], "tiny preset"),
    ]
    assert (record["scores"], record["notes"]) == (["clip_en", "clip_ko"], [])


def test_a_rerun_resumes_and_changed_settings_are_refused(evaluated: tuple, encoder_folder: Path) -> None:
    tmp, first, _ = evaluated
    before = first.csv.read_text(encoding="utf-8")
    again = evaluate_t2i(_config(tmp, encoder_folder))
    assert (again.generated, again.skipped) == (0, 6)
    assert again.csv.read_text(encoding="utf-8") == before
    # A run stopped before this row finished: its row file is missing, so only it is made again, identically.
    image = tmp / "eval" / "images" / "translate" / "food-b.png"
    pixels = image.read_bytes()
    (tmp / "eval" / "rows" / "translate" / "food-b.json").unlink()
    resumed = evaluate_t2i(_config(tmp, encoder_folder))
    assert (resumed.generated, resumed.skipped) == (1, 5) and image.read_bytes() == pixels
    before = resumed.csv.read_text(encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        evaluate_t2i(_config(tmp, encoder_folder, steps=3))
    assert "holds an evaluation made with other settings (steps)" in str(error.value)
    assert first.csv.read_text(encoding="utf-8") == before  # nothing already written is lost
    fewer = evaluate_t2i(_config(tmp, encoder_folder, pipelines=["translate"], limit=1))
    assert [(r["prompt_id"], r["pipeline"]) for r in _rows(fewer.csv)[1]] == [("hanok-a", "translate")]
    assert fewer.generated == 0
    redone = evaluate_t2i(_config(tmp, encoder_folder, pipelines=["ko-encoder"], limit=1, steps=3), overwrite=True)
    assert redone.generated == 1 and sorted(p.name for p in (tmp / "eval" / "rows").rglob("*.json")) == ["hanok-a.json"]


@pytest.mark.slow
def test_a_korean_only_prompt_set_runs_the_korean_pipelines_and_reports_without_clip_en(tmp_path: Path) -> None:
    config = T2IEvalConfig(base="tiny-sd", out=str(tmp_path / "eval"), pipelines=["ko-encoder", "translate"],
                           prompts=str(write_prompts(tmp_path / "ko.jsonl", KOREAN_ONLY)),
                           translator="tiny-translator-ko-en", korean_clip="tiny-open-clip", steps=1, warmup=0)
    result = evaluate_t2i(config)
    header, rows = _rows(result.csv)
    assert header == COLUMNS and [(r["prompt_id"], r["pipeline"]) for r in rows] == [
        ("hanok-a", "ko-encoder"), ("hanok-a", "translate"), ("food-b", "ko-encoder"), ("food-b", "translate")]
    assert all(r["prompt_en"] == "" and r["clip_en"] == "" and 0 <= float(r["clip_ko"]) <= 100 for r in rows)
    assert all(s["clip_en_median"] is None and s["clip_ko_median"] is not None for s in result.summary)
    note = "clip_en is not scored: 2 of 2 prompts have no en (first: 'hanok-a'), and the English CLIP reads English"
    assert result.plan.notes[-1] == note and result.to_dict()["notes"][-1] == note
    markdown = result.report_md.read_text(encoding="utf-8")
    assert f"- {md_text(note)}" in markdown and f"English CLIP {md_code('(not scored)')}" in markdown
    assert markdown.count("CLIP en – / ko ") == 4
    page = result.report_html.read_text(encoding="utf-8")
    assert "clip_en is not scored: 2 of 2 prompts have no en (first: &#x27;hanok-a&#x27;)" in page
    assert page.count("<img src='images/") == 4
    record = json.loads((tmp_path / "eval" / "eval_config.json").read_text(encoding="utf-8"))
    assert record["english_clip"] is None and [m["role"] for m in record["models"]] == [
        "base", "text encoder", "translator", "Korean CLIP"]


def test_a_model_that_does_not_load_fails_before_any_image_is_written(tmp_path: Path) -> None:
    not_an_encoder = tmp_path / "not-an-encoder"
    not_an_encoder.mkdir()  # found (it exists), but holds no model: only loading can tell
    config = T2IEvalConfig(base="tiny-sd", out=str(tmp_path / "eval"), pipelines=["english-reference", "ko-encoder"],
                           prompts=str(write_prompts(tmp_path / "p.jsonl")), text_encoder=str(not_an_encoder),
                           english_clip="tiny-clip", korean_clip="tiny-clip", steps=1, warmup=0)
    with pytest.raises(ConfigError, match="expected a CLIPTextModel folder"):
        evaluate_t2i(config)
    assert [p for p in (tmp_path / "eval").rglob("*.png")] == []


def test_bad_settings_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--steps must be at least 1, got 0"):
        T2IEvalConfig(base="tiny-sd", out=str(tmp_path), steps=0)
    with pytest.raises(ConfigError, match="unknown t2i pipeline 'ko'"):
        T2IEvalConfig(base="tiny-sd", out=str(tmp_path / "o"), pipelines=["ko"])
    with pytest.raises(ConfigError, match="no such file"):
        T2IEvalConfig(base="tiny-sd", out=str(tmp_path / "o"), prompts=str(tmp_path / "none.jsonl"))
    assert not (tmp_path / "o").exists()
