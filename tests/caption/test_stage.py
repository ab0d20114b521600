"""The caption stage end to end on tiny presets: typed, batched columns with provenance, per-row failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from kdata.caption.backends.base import short_hash
from kdata.caption.backends.image_models import ImageToTextBackend
from kdata.caption.backends.translate import TranslateBackend
from kdata.caption.config import caption_config_from_dict
from kdata.caption.stage import run_caption
from kdata.manifest import open_manifest
from tests.caption.rows import image_row, ink_rows
from tests.helpers.manifests import write_rows

TINY_CHAINS: dict[str, Any] = {
    "ko": [
        {"backend": "template", "template": "{paper_type}, {method}, {caption_ko}"},
        {"backend": "template", "template": "{paper_type}에 {method}으로 그린 수묵화"},
        {"backend": "alt_text"},
        {"backend": "translate", "model": "tiny-translator-en-ko", "source": "en", "max_new_tokens": 6},
    ],
    "en": [
        {"backend": "template", "template": "{caption_en}, {method_en} on {paper_type_en}"},
        {"backend": "alt_text"},
        {"backend": "image-to-text", "model": "tiny-captioner", "max_new_tokens": 6, "batch_size": 8},
    ],
}


def _spy(monkeypatch: pytest.MonkeyPatch, cls: type, method: str) -> list[int]:
    """Record the batch size of every call to ``cls.method`` (its first argument is the batch)."""
    sizes: list[int] = []
    original = getattr(cls, method)

    def wrapper(self: Any, batch: list[Any], *args: Any) -> Any:
        sizes.append(len(batch))
        return original(self, batch, *args)

    monkeypatch.setattr(cls, method, wrapper)
    return sizes


@pytest.fixture(scope="module")
def captioned(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict[str, Any]], dict[str, int], dict]:
    monkeypatch = pytest.MonkeyPatch()
    captioner_calls = _spy(monkeypatch, ImageToTextBackend, "_generate_texts")
    translator_calls = _spy(monkeypatch, TranslateBackend, "_translate")
    root = tmp_path_factory.mktemp("captioned")
    manifest = write_rows(root / "in", ink_rows())
    try:
        result = run_caption(manifest.path, caption_config_from_dict(TINY_CHAINS), root / "out")
    finally:
        monkeypatch.undo()
    table = open_manifest(root / "out").read_table()
    rows = {row["key"]: row for row in table.to_pylist()}
    calls = {"captioner": captioner_calls, "translator": translator_calls}
    return rows, result.stats, {"schema": table.schema, "calls": calls}


def test_metadata_captions_are_exact_and_carry_provenance(captioned: tuple) -> None:
    rows, _, _ = captioned
    ink = rows["ink-1"]
    assert (ink["caption_ko"], ink["caption_ko_source"]) == ("화선지, 백묘법, 대나무를 그린 수묵화", "template")
    assert ink["caption_ko_prompt_hash"] == short_hash("{paper_type}, {method}, {caption_ko}")
    assert ink["caption_ko_model"] == f"template:{ink['caption_ko_prompt_hash']}"
    assert ink["caption_en"] == (
        "a Korean ink painting of bamboo, baekmyo (ink outline drawing) on hwaseonji (xuan paper)")
    assert (ink["caption_ko_input"], ink["caption_en_input"]) == (
        "대나무를 그린 수묵화", "a Korean ink painting of bamboo")
    ink2 = rows["ink-2"]
    assert (ink2["caption_ko"], ink2["caption_ko_source"]) == ("순지에 몰골법으로 그린 수묵화", "template")
    food = rows["food-1"]
    assert (food["caption_ko"], food["caption_ko_source"], food["caption_ko_model"]) == (
        "비빔밥", "alt_text", "column:alt_text")
    hanok = rows["hanok-1"]
    assert (hanok["caption_en"], hanok["caption_en_source"]) == ("a hanok with a tiled roof", "alt_text")


def test_models_fill_what_metadata_cannot_in_one_batch_each(captioned: tuple) -> None:
    rows, _, extra = captioned
    for key in ("ink-2", "food-1"):  # no usable English metadata: the tiny captioner
        row = rows[key]
        assert row["caption_en_source"] == "model" and row["caption_en_model"] == "tiny-captioner"
        assert isinstance(row["caption_en"], str) and row["caption_en"].strip() and row["caption_en_reason"] is None
        assert row["caption_en_prompt_hash"] is None  # unconditional captioning: no prompt
    hanok = rows["hanok-1"]  # Korean from the English alt text, translated
    assert hanok["caption_ko_source"] == "translation" and hanok["caption_ko_model"] == "tiny-translator-en-ko"
    assert isinstance(hanok["caption_ko"], str) and hanok["caption_ko"].strip()
    # The two images the captioner needed went through generate together; the one text to translate, once.
    assert extra["calls"] == {"captioner": [2], "translator": [1]}
    schema = extra["schema"]
    for language in ("ko", "en"):
        for suffix in ("", "_source", "_model", "_prompt_hash", "_reason", "_input"):
            assert schema.field(f"caption_{language}{suffix}").type == pa.string()


def test_an_unreadable_image_fails_its_caption_not_the_row_or_the_run(captioned: tuple) -> None:
    rows, stats, _ = captioned
    broken = rows["broken-1"]
    assert broken["status"] == "ok" and broken["reason"] is None
    assert (broken["caption_en"], broken["caption_en_source"]) == (None, "failed")
    assert broken["caption_en_reason"] == "en[2]:image-to-text: undecodable:OSError"
    # Nothing to translate from, and no Korean metadata: no candidate at all.
    assert (broken["caption_ko"], broken["caption_ko_source"], broken["caption_ko_reason"]) == (
        None, None, "no_candidate")
    blurry = rows["blurry-1"]  # rejected upstream: passed through untouched
    assert (blurry["status"], blurry["reason"], blurry["caption_ko"], blurry["caption_en_source"]) == (
        "rejected", "blurry", None, None)
    assert stats == {
        "total": 6, "kept": 5, "carried/rejected": 1,
        "caption_ko/template": 2, "caption_ko/alt_text": 1, "caption_ko/translation": 1, "caption_ko/none": 1,
        "caption_en/template": 1, "caption_en/alt_text": 1, "caption_en/model": 2, "caption_en/none": 1,
        "caption_en/failed/image-to-text": 1,
    }


def test_a_model_error_on_one_row_is_recorded_on_that_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = ImageToTextBackend._generate_texts

    def fails_on_width_41(self: ImageToTextBackend, images: list[Any], seed: int) -> list[list[str]]:
        if any(image.width == 41 for image in images):
            raise RuntimeError("boom\nsecond line of a long traceback message")
        return original(self, images, seed)

    monkeypatch.setattr(ImageToTextBackend, "_generate_texts", fails_on_width_41)
    calls = _spy(monkeypatch, ImageToTextBackend, "_generate_texts")
    manifest = write_rows(tmp_path / "in", [image_row(f"w{w}", width=w) for w in (40, 41, 42, 43)])
    config = caption_config_from_dict({"en": [{"backend": "blip", "model": "tiny-captioner", "max_new_tokens": 4}]})
    result = run_caption(manifest.path, config, tmp_path / "out")
    rows = {r["key"]: r for r in result.manifest.read_table().to_pylist()}
    assert calls == [4, 2, 1, 1, 2]  # the whole batch, then halves, down to the row that fails alone
    assert rows["w41"]["caption_en"] is None and rows["w41"]["caption_en_source"] == "failed"
    assert rows["w41"]["caption_en_reason"] == "en[0]:blip: RuntimeError: boom"
    assert all(rows[k]["caption_en_source"] == "model" and rows[k]["caption_en"] for k in ("w40", "w42", "w43"))
    assert {r["status"] for r in rows.values()} == {"ok"}
    assert result.stats["caption_en/failed/blip"] == 1 and result.stats["caption_en/model"] == 3


def test_resume_skips_finished_shards_and_gives_the_same_manifest(tmp_path: Path) -> None:
    manifest = write_rows(tmp_path / "in", ink_rows()[:4], shards=2)
    config = caption_config_from_dict({"ko": TINY_CHAINS["ko"][:3], "en": TINY_CHAINS["en"][:2]})
    first = run_caption(manifest.path, config, tmp_path / "out")
    again = run_caption(manifest.path, config, tmp_path / "out")
    assert (first.shards_run, again.shards_run, again.shards_skipped) == (2, 0, 2)
    assert again.manifest.fingerprint == first.manifest.fingerprint
    assert [s["stage"] for s in again.manifest.lineage_chain] == ["caption", "unit"]


def test_clip_reranking_keeps_the_best_scored_candidate_reproducibly(tmp_path: Path) -> None:
    manifest = write_rows(tmp_path / "in", ink_rows()[:3])
    config = caption_config_from_dict({
        "en": [{"backend": "template", "template": "{caption_en}"},
               {"backend": "image-to-text", "model": "tiny-captioner", "max_new_tokens": 5, "num_candidates": 3}],
        "rerank": {"model": "tiny-clip", "languages": ["en"]},
    })
    tables = [run_caption(manifest.path, config, tmp_path / name).manifest.read_table() for name in ("a", "b")]
    assert tables[0].drop_columns([]).equals(tables[1])  # sampling is seeded by the rows: re-runs agree
    for row in tables[0].to_pylist():
        candidates = json.loads(row["caption_en_candidates"])
        sources = [c["source"] for c in candidates]
        assert sources.count("model") >= 1 and len(candidates) <= 4
        scores = [c["score"] for c in candidates]
        assert all(-1.0 <= s <= 1.0 for s in scores)
        best = candidates[scores.index(max(scores))]
        assert (row["caption_en"], row["caption_en_source"]) == (best["text"], best["source"])
        assert row["caption_en_clip_score"] == pytest.approx(max(scores), abs=1e-6)
    assert tables[0].schema.field("caption_en_clip_score").type == pa.float32()


def test_a_chat_vlm_captions_in_korean_from_a_prompt(tmp_path: Path) -> None:
    from tests.caption.tiny_vlm import build_tiny_vlm

    model_dir = build_tiny_vlm(tmp_path / "tiny-vlm")
    prompt = "이 그림을 설명해 주세요 ."
    manifest = write_rows(tmp_path / "in", [image_row("a", width=20), image_row("b", width=50)])
    config = caption_config_from_dict(
        {"ko": [{"backend": "vlm", "model": str(model_dir), "prompt": prompt, "max_new_tokens": 3}]})
    rows = run_caption(manifest.path, config, tmp_path / "out").manifest.read_table().to_pylist()
    for row in rows:
        assert row["caption_ko_source"] == "model" and row["caption_ko_model"] == str(model_dir)
        assert row["caption_ko_prompt_hash"] == short_hash(prompt)
        assert isinstance(row["caption_ko"], str) and row["caption_ko"].strip()
        assert "이 그림을" not in row["caption_ko"]  # only the answer, not the prompt, is the caption


@pytest.mark.parametrize(("library", "model"), [("hf", "tiny-clip"), ("open_clip", "tiny-open-clip")])
def test_clip_reranker_scores_each_row_against_its_own_texts(library: str, model: str) -> None:
    from kdata.caption.backends.base import RowItem
    from kdata.caption.config import RerankConfig
    from kdata.caption.rerank import ClipReranker

    reranker = ClipReranker(RerankConfig(model=model, library=library))
    reranker.load()
    items = [RowItem(image_row("a", width=30)), RowItem({"key": "gone"}), RowItem(image_row("b", width=60))]
    scores = reranker.score(items, [["한복을 입은 여인", "a hanok"], ["x"], ["수묵화 대나무"]])
    assert scores[1] is None  # no image bytes: not scored, the order of preference decides
    assert [len(s) for s in (scores[0], scores[2])] == [2, 1]
    assert all(-1.0 <= v <= 1.0 for v in scores[0] + scores[2])
