"""``eval t2i``'s reports: notes and scores left out are shown as text and as "–"."""

from __future__ import annotations

from ktrain.t2i.report import markdown, page, summarize

HOSTILE = "<script>alert(1)</script> [x](javascript:alert(2))"


def test_notes_are_escaped_and_a_score_left_out_shows_a_dash() -> None:
    config = {"base": "tiny-sd", "text_encoder": None, "translator": "tiny-translator-ko-en", "english_clip": None,
              "korean_clip": "tiny-clip", "steps": 1, "guidance": 7.5, "seed": 0, "notes": [HOSTILE]}
    numbers = {m: 0.01 for m in ("translate_s", "text_encode_s", "text_stage_s", "denoise_s", "decode_s", "total_s")}
    rows = [{"prompt_id": "p-1", "pipeline": "ko-encoder", "prompt_ko": "한옥", "prompt_en": None,
             "prompt_used": "한옥", "image": "images/ko-encoder/p-1.png", "clip_en": None, "clip_ko": 21.5, **numbers}]
    summary = summarize(rows, ["ko-encoder"])
    assert (summary[0]["clip_en_mean"], summary[0]["clip_ko_median"]) == (None, 21.5)
    md = markdown(config, summary, rows, ["ko-encoder"])
    assert "<script>" not in md and "[x](javascript:" not in md and "CLIP en – / ko 21.50" in md
    assert "English CLIP (not scored)" in md
    html = page(config, summary, rows, ["ko-encoder"])
    assert "<ul id='notes'><li>&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "CLIP en – / ko 21.50" in html and "None" not in html
