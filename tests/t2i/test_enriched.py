"""``eval t2i``'s ``enriched`` pipeline on tiny presets: the translation with the nearest English prompt of a real
tiny index appended, its neighbour and score in every row, eval.csv and both reports; refusals in one line."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from kdata.errors import ConfigError
from ktrain.t2i.enrich import Neighbour, enriched_prompt, nearest_english
from ktrain.t2i.evaluate import T2IEvalConfig, evaluate_t2i
from tests.helpers.cli import kcli
from tests.index.corpus import write_prompts as write_corpus
from tests.t2i.tiny import write_prompts

CORPUS = ["눈 덮인 한옥 마을", "a hanok village in the snow, ink painting, highly detailed",
          "a bowl of bibimbap on a wooden table, food photography", "cyberpunk city at night, neon lights",
          "비빔밥 한 그릇"]
ENGLISH = [text for text in CORPUS if text.isascii()]


class _Hits:
    def __init__(self, texts: list[str]) -> None:
        from kdata.index import Hit, SearchResult

        hits = [Hit(f"k{i}", t, "", round(0.9 - i / 10, 4)) for i, t in enumerate(texts)]
        self.result = SearchResult("", hits, 0, 0, "x")
        self.asked: list[tuple[str, int]] = []

    def search(self, text: str, k: int) -> Any:
        self.asked.append((text, k))
        return self.result


def test_the_first_hit_without_hangul_is_the_neighbour() -> None:
    index = _Hits(["한옥 마을", "  ", "한옥 village", "a hanok village ", "a cat"])
    assert nearest_english(index, "한옥") == Neighbour("a hanok village", 0.6, "k3")
    assert index.asked == [("한옥", 10)]
    assert nearest_english(_Hits(["한옥", "마을"]), "한옥") is None


@pytest.mark.parametrize(("translation", "neighbour", "expected"), [
    ("a hanok village.", Neighbour("ink painting, snow", 0.5, "k"), "a hanok village, ink painting, snow"),
    ("A Hanok Village", Neighbour("a hanok village", 0.9, "k"), "A Hanok Village"),
    ("a hanok village", None, "a hanok village"),
])
def test_the_neighbour_follows_the_translation(translation: str, neighbour: Neighbour | None, expected: str) -> None:
    assert enriched_prompt(translation, neighbour) == expected


def _config(tmp: Path, encoder: Path, **changes: object) -> T2IEvalConfig:
    settings = dict(base="tiny-sd", out=str(tmp / "eval"), pipelines=["ko-encoder", "translate", "enriched"],
                    prompts=str(write_prompts(tmp / "prompts.jsonl")), text_encoder=str(encoder),
                    translator="tiny-translator-ko-en", english_clip="tiny-clip", korean_clip="none", steps=2,
                    warmup=0, height=64, width=64)
    return T2IEvalConfig(**{**settings, **changes})


def test_enriched_without_an_index_is_refused_before_any_model(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        _config(tmp_path, tmp_path, pipelines=["enriched"])
    assert str(error.value) == (
        "--pipelines enriched: it appends each prompt's nearest English prompt from a prompt index, and no "
        "--prompt-index was given; give --prompt-index a folder that kcli index build finished (kcli index build "
        "PROMPTS.jsonl --out INDEX), or leave enriched out of --pipelines")


def test_kcli_eval_t2i_names_a_missing_index_in_one_line(tmp_path: Path) -> None:
    done = kcli("eval", "t2i", "--base", "tiny-sd", "--out", str(tmp_path / "eval"), "--prompts",
                str(write_prompts(tmp_path / "p.jsonl")), "--pipelines", "enriched", "--translator",
                "tiny-translator-ko-en", "--english-clip", "none", "--korean-clip", "none", "--prompt-index",
                str(tmp_path / "nowhere"))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"error: --prompt-index {tmp_path / 'nowhere'}: {tmp_path / 'nowhere'} is not a finished index (no "
        "index.json); give --prompt-index a folder that kcli index build finished (kcli index build PROMPTS.jsonl "
        "--out INDEX), or leave enriched out of --pipelines"]


@pytest.mark.slow  # tiny SD, the tiny translator, a CLIP text tower for the index and one for scoring
def test_enriched_rows_carry_the_neighbour_and_render_beside_the_others(tmp_path: Path, encoder_folder: Path) -> None:
    from kdata.index import IndexConfig, PromptIndex, build_index

    index = build_index(write_corpus(tmp_path / "corpus.jsonl", CORPUS), tmp_path / "idx", IndexConfig()).path
    # A first run without the index; adding enriched and its index later resumes the same OUT.
    first = evaluate_t2i(_config(tmp_path, encoder_folder, pipelines=["ko-encoder", "translate"]))
    assert (first.generated, first.skipped) == (4, 0)
    result = evaluate_t2i(_config(tmp_path, encoder_folder, prompt_index=str(index)))
    assert (result.generated, result.skipped) == (2, 4)

    with open(result.csv, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["prompt_id"], r["pipeline"]) for r in rows] == [
        (p, name) for p in ("hanok-a", "food-b") for name in ("ko-encoder", "translate", "enriched")]
    opened = PromptIndex.open(index)
    for prompt_id in ("hanok-a", "food-b"):
        mine = {r["pipeline"]: r for r in rows if r["prompt_id"] == prompt_id}
        enriched, translated = mine["enriched"], mine["translate"]
        expected = nearest_english(opened, enriched["prompt_ko"])
        assert expected is not None and expected.text in ENGLISH
        assert (enriched["neighbour_en"], float(enriched["neighbour_score"])) == (expected.text, expected.score)
        assert enriched["prompt_used"] == enriched_prompt(translated["prompt_used"], expected)
        numbers = {c: float(enriched[c]) for c in ("translate_s", "search_s", "text_encode_s", "text_stage_s")}
        assert numbers["translate_s"] > 0 and numbers["search_s"] > 0
        assert numbers["text_stage_s"] == pytest.approx(
            numbers["translate_s"] + numbers["search_s"] + numbers["text_encode_s"], abs=3e-6)
        assert (translated["neighbour_en"], translated["neighbour_score"], translated["search_s"]) == ("", "", "0.0")
        assert (tmp_path / "eval" / enriched["image"]).is_file() and enriched["clip_en"]

    summary = json.loads((tmp_path / "eval" / "summary.json").read_text(encoding="utf-8"))
    assert [s["pipeline"] for s in summary["pipelines"]] == ["ko-encoder", "translate", "enriched"]
    assert summary["pipelines"][2]["search_s_median"] > 0 and summary["pipelines"][1]["search_s_median"] == 0
    assert summary["config"]["prompt_index"] == str(index)
    markdown = result.report_md.read_text(encoding="utf-8")
    page = result.report_html.read_text(encoding="utf-8")
    for row in (r for r in rows if r["pipeline"] == "enriched"):
        assert f"nearest ({float(row['neighbour_score']):.3f}): " in markdown
        shown = f"nearest ({float(row['neighbour_score']):.3f}): {row['neighbour_en']}"
        assert f"<div class='nearest'>{shown}</div>" in page
    assert page.count("<div class='nearest'>") == 2 and "<td>enriched</td>" in page

    import shutil

    other = shutil.copytree(index, tmp_path / "other.idx")  # another index: the enriched rows would differ
    with pytest.raises(ConfigError, match=r"other settings \(prompt_index\)"):
        evaluate_t2i(_config(tmp_path, encoder_folder, prompt_index=str(other)))


def test_a_hostile_neighbour_and_index_path_stay_text_in_both_reports() -> None:
    """Corpus prompts are anybody's text: the neighbour shows escaped in report.md and report.html."""
    from ktrain.t2i.report import markdown, page, summarize
    from tests.security.hostile_text import HEADING, IMG, SCRIPT, assert_inert_html, parse_html, render_markdown

    config = {"base": "tiny-sd", "text_encoder": None, "translator": "t", "english_clip": None, "korean_clip": None,
              "steps": 1, "guidance": 7.5, "seed": 0, "prompt_index": f"{SCRIPT}idx"}
    numbers = {m: 0.01 for m in ("translate_s", "search_s", "text_encode_s", "text_stage_s", "denoise_s", "decode_s",
                                 "total_s")}
    row = {"prompt_id": "p-1", "pipeline": "enriched", "prompt_ko": "한옥", "prompt_en": None, "prompt_used": "x",
           "image": "images/enriched/p-1.png", "clip_en": None, "clip_ko": None, "neighbour_en": f"{IMG}{HEADING}",
           "neighbour_score": 0.4321, **numbers}
    summary = summarize([row], ["enriched"])
    md = markdown(config, summary, [row], ["enriched"])
    rendered = assert_inert_html(render_markdown(md))
    assert rendered.headings == ["Korean prompts: text-to-image pipelines compared", "Images"]
    assert "nearest (0.432): " in md and "<img src=x" not in md and "<script" not in md
    html = page(config, summary, [row], ["enriched"])
    assert [tag for tag, _ in assert_inert_html(html).tags if tag == "img"] == ["img"]  # the rendered image only
    assert parse_html(html).headings == ["Korean prompts: text-to-image pipelines compared", "Images"]
    assert "nearest (0.432): &lt;img src=x onerror=" in html and "<script" not in html
