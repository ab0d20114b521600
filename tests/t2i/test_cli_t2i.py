"""``kcli eval t2i`` and ``kcli serve`` as a user runs them: JSON output, one-line errors."""

from __future__ import annotations

import csv
import json
import socket
from pathlib import Path

import pytest

from tests.helpers.cli import kcli
from tests.t2i.tiny import KOREAN_ONLY, write_prompts

ONE_THREAD = {"OMP_NUM_THREADS": "1"}  # tiny models: a second thread only spin-waits (tests/t2i/conftest.py)


@pytest.mark.slow
def test_eval_t2i_json_writes_the_csv_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    prompts = write_prompts(tmp_path / "p.jsonl")
    done = kcli("eval", "t2i", "--base", "tiny-sd", "--out", str(out), "--prompts", str(prompts),
                "--pipelines", "ko-encoder,translate", "--translator", "tiny-translator-ko-en", "--english-clip",
                "tiny-clip", "--korean-clip", "tiny-clip", "--limit", "1", "--steps", "1", "--warmup", "0", "--json",
                env=ONE_THREAD)
    assert done.returncode == 0, done.stderr[-3000:]
    payload = json.loads(done.stdout)
    assert (payload["rows"], payload["generated"], payload["skipped"]) == (2, 2, 0)
    assert [s["pipeline"] for s in payload["summary"]] == ["ko-encoder", "translate"]
    with open(payload["csv"], newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["prompt_id"], r["pipeline"]) for r in rows] == [("hanok-a", "ko-encoder"), ("hanok-a", "translate")]
    assert Path(payload["report_md"]).exists() and Path(payload["report_html"]).exists()
    assert json.loads((out / "eval_config.json").read_text())["steps"] == 1


def test_eval_t2i_offline_with_an_uncached_default_model_fails_in_one_line_before_any_image(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    done = kcli("eval", "t2i", "--base", "tiny-sd", "--out", str(out), "--prompts", str(write_prompts(tmp_path / "p")),
                "--pipelines", "ko-encoder", "--korean-clip", "tiny-clip",
                env={**ONE_THREAD, "HF_HOME": str(tmp_path / "hf-home")}, unset=("HF_HUB_CACHE",))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "error: --english-clip openai/clip-vit-large-patch14 (default): not a local path, not in the Hugging Face "
        "cache, and downloads are off (HF_HUB_OFFLINE=1); give --english-clip a local folder, a Hub id that is cached "
        "or reachable, an open_clip spec or tiny-clip; or --english-clip none to skip the English score"]
    assert not out.exists()


@pytest.mark.slow
def test_eval_t2i_on_korean_only_prompts_shows_its_models_and_what_it_skips(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    done = kcli("eval", "t2i", "--base", "tiny-sd", "--out", str(out), "--prompts",
                str(write_prompts(tmp_path / "ko.jsonl", KOREAN_ONLY)), "--translator", "tiny-translator-ko-en",
                "--korean-clip", "tiny-open-clip", "--limit", "1", "--steps", "1", "--warmup", "0", env=ONE_THREAD)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [" ".join(line.strip("│┃ ").split()) for line in done.stdout.splitlines()]
    assert "eval t2i: models" in lines
    for row in ("ko-encoder, translate │ base │ tiny-sd │ tiny preset",
                "ko-encoder │ text encoder │ the base's own (default) │ the base's own",
                "translate │ translator │ tiny-translator-ko-en │ tiny preset",
                "clip_ko │ Korean CLIP │ tiny-open-clip │ tiny preset"):
        assert row in lines, done.stdout
    assert "note: clip_en is not scored: 1 of 1 prompts have no en (first: 'hanok-a'), and the English CLIP reads " \
           "English" in lines
    with open(out / "eval.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["pipeline"], r["clip_en"]) for r in rows] == [("ko-encoder", ""), ("translate", "")]
    assert all(float(r["clip_ko"]) >= 0 for r in rows) and (out / "report.html").exists()


def test_eval_and_serve_user_errors_are_one_line(tmp_path: Path) -> None:
    done = kcli("eval", "t2i", "--base", "tiny-sd", "--out", str(tmp_path / "o"), "--pipelines", "ko-encoder,nope",
                env=ONE_THREAD)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: unknown t2i pipeline 'nope'; valid names: english-reference, enriched, ko-encoder, translate"]
    done = kcli("serve", "--base", "tiny-sd", "--lora", "broken", env=ONE_THREAD)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --lora 'broken': expected NAME=PATH, e.g. --lora ink=out/lora/ink.safetensors"]
    done = kcli("serve", "--base", "tiny-sd", "--lora", f"../ink={tmp_path}", env=ONE_THREAD)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: --lora '../ink={tmp_path}': a name is letters and digits of any script (e.g. '한복 LoRA'), "
        "spaces, '-' and '_', starting with a letter or digit, at most 64 characters; U+002E is not allowed"]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = kcli("serve", "--base", "tiny-sd", "--port", str(port), env=ONE_THREAD)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: port {port} on 127.0.0.1 is in use; pass another --port (0 picks a free one)"]
