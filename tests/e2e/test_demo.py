"""The demo end to end, as a user runs it: every stage the project has, offline, on tiny presets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kdata.manifest import open_manifest
from kdata.samples import SAMPLE_IMAGES
from tests.e2e.demo_cli import assert_demo_finished, run_demo_cli
from tests.helpers.cli import REPO

# Every test reads one run of the whole demo (about 45 s), and the rerun test runs it again.
pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    workdir = tmp_path_factory.mktemp("demo")
    return workdir, run_demo_cli(workdir, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_demo_runs_every_step_and_writes_a_summary(demo_run: tuple[Path, list[dict]]) -> None:
    workdir, steps = demo_run
    assert [s["step"] for s in steps][:4] == ["ingest", "crawl", "verify", "inspect"]
    assert_demo_finished(workdir, steps)


def test_demo_manifests_keep_every_sample_row_and_lineage(demo_run: tuple[Path, list[dict]]) -> None:
    workdir, _ = demo_run
    verified = open_manifest(workdir / "02-verified")
    assert verified.num_rows == 22
    assert [s["stage"] for s in verified.lineage_chain] == ["verify", "ingest-folder"]


def test_demo_rerun_resumes_without_redoing_work(demo_run: tuple[Path, list[dict]]) -> None:
    workdir, steps = demo_run
    again = {s["step"]: s for s in run_demo_cli(workdir, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})}
    assert again["verify"]["stats"] == {s["step"]: s for s in steps}["verify"]["stats"]


def test_demo_ingests_the_sample_folder_with_the_ink_mapping_and_urls(demo_run: tuple[Path, list[dict]]) -> None:
    workdir, steps = demo_run
    rows = {r["key"]: r for r in open_manifest(workdir / "01-ingest").read_table().to_pylist()}
    assert len(rows) == 22 and all(r["status"] == "ok" for r in rows.values())
    assert (rows["ink_painting-06"]["paper_type"], rows["ink_painting-06"]["method"]) == ("화선지", "백묘법")
    assert rows["ink_painting-06"]["method_en"] == "baekmyo (ink outline drawing)"
    assert rows["food-16"]["paper_type"] is None and rows["food-16"]["category"] == "food"
    urls = {r["url"].rsplit("/", 1)[1]: r for r in open_manifest(workdir / "01-ingest-urls").read_table().to_pylist()}
    assert {name: (r["status"], r["reason"]) for name, r in urls.items()} == {
        "ink_painting-06.jpg": ("ok", None), "ink_painting-09.jpg": ("ok", None), "hanok-13.jpg": ("ok", None),
        "not-there.jpg": ("failed", "http_error:404"),
    }
    assert min(urls["hanok-13.jpg"]["width"], urls["hanok-13.jpg"]["height"]) == 128
    assert {s["step"]: s for s in steps}["ingest"]["urls"]["stats"] == {"total": 4, "kept": 3, "failed/http_error": 1}


def test_demo_runs_every_tiny_preset_offline(demo_run: tuple[Path, list[dict]]) -> None:
    from PIL import Image

    workdir, _ = demo_run
    report = json.loads((workdir / "presets" / "presets.json").read_text())
    assert set(report["built"]) == {"tiny-clip", "tiny-open-clip", "tiny-sd", "tiny-captioner",
                                    "tiny-translator-en-ko", "tiny-translator-ko-en", "tiny-sdxl",
                                    "tiny-sdxl-refiner", "tiny-latent-upscaler"}
    outputs = report["outputs"]
    assert len(outputs["clip"]["similarity"]) == 2 and all(-1 <= v <= 1 for row in outputs["clip"]["similarity"]
                                                            for v in row)
    assert Image.open(outputs["stable_diffusion"]["image"]).size == (64, 64)
    assert isinstance(outputs["captioner"]["caption"], str) and outputs["captioner"]["caption"]
    assert isinstance(outputs["translator"]["en"], str)
    sizes = {name: Image.open(outputs["sdxl"][name]).size for name in ("sdxl", "refined", "upscaled")}
    assert sizes == {"sdxl": (64, 64), "refined": (64, 64), "upscaled": (128, 128)}


def test_demo_ends_by_exporting_the_dataset_and_writing_its_report(
    demo_run: tuple[Path, list[dict]], tmp_path: Path
) -> None:
    import datasets

    workdir, steps = demo_run
    publish = steps[-1]
    assert publish["step"] == "publish"
    ok_rows = open_manifest(publish["manifest"]).read_table(["key"], only_ok=True).column("key").to_pylist()
    ds = datasets.load_dataset(publish["hub_folder"], split="train", cache_dir=str(tmp_path / "hf-cache"))
    assert ds["key"] == ok_rows and publish["rows"] == len(ok_rows)
    assert isinstance(ds.features["image"], datasets.Image) and ds[0]["image"].size[0] > 0
    assert (workdir / "90-publish" / "hub" / "README.md").exists()
    report = Path(publish["report"])
    assert report == workdir / "90-publish" / "report" / "index.html" and "report-data" in report.read_text()


def test_demo_crawls_the_sample_site_with_page_context(demo_run: tuple[Path, list[dict]]) -> None:
    from urllib.parse import urlsplit

    workdir, steps = demo_run
    pages = {urlsplit(r["url"]).path: (r["status"], r["reason"], r["rendered"])
             for r in open_manifest(workdir / "01-crawl" / "pages").read_table().to_pylist()}
    assert pages == {"/": ("ok", None, False), "/hanbok.html": ("ok", None, False), "/hanok.html": ("ok", None, False),
                     "/food.html": ("ok", None, False), "/ink.html": ("ok", None, False),
                     "/picks.html": ("ok", None, True), "/drafts/": ("rejected", "robots_txt", False)}
    images = {urlsplit(r["url"]).path.rsplit("/", 1)[1]: r
              for r in open_manifest(workdir / "01-crawl" / "images").read_table().to_pylist()}
    samples = {p.name for p in SAMPLE_IMAGES.glob("*.jpg")}
    assert set(images) == samples - {"hanbok-00-small.jpg", "hanok-12-blurred.jpg"}  # srcset/lazy: the real ones
    assert all(r["status"] == "ok" and r["width"] for r in images.values())
    ink = images["ink_painting-06.jpg"]  # from the EUC-KR page
    assert (ink["alt_text"], ink["caption"], ink["page_title"]) == (
        "화선지에 백묘법으로 그린 대나무", "대나무 수묵화 7", "대나무 수묵화")
    assert images["hanok-13.jpg"]["page_count"] == 3 and {s["step"]: s for s in steps}["crawl"]["rows"] == 20


def test_demo_captions_the_samples_with_templates_alt_text_and_tiny_models(demo_run: tuple[Path, list[dict]]) -> None:
    _, steps = demo_run
    step = {s["step"]: s for s in steps}["caption"]
    captioned = open_manifest(step["output"])
    rows = {r["key"]: r for r in captioned.read_table().to_pylist()}
    assert len(rows) == 22 and [s["stage"] for s in captioned.lineage_chain][:2] == ["caption", "filter"]
    kept = sum(r["status"] == "ok" for r in rows.values())  # rows the filter rejected are carried, not captioned
    assert kept == 18 and rows["hanbok-00-small"]["caption_ko"] is None
    food = rows["food-16"]
    assert (food["caption_ko"], food["caption_ko_source"]) == ("그릇에 담긴 비빔밥", "alt_text")
    assert (food["caption_en"], food["caption_en_source"]) == ("a bowl of bibimbap", "template")
    ink = rows["ink_painting-06"]
    if "paper_type" in captioned.schema().names:  # ingest's ink-painting mapping ran before this step
        assert (ink["caption_ko"], ink["caption_ko_source"]) == ("화선지에 백묘법으로 그린 수묵화", "template")
    else:
        assert (ink["caption_ko"], ink["caption_ko_source"]) == ("화선지에 백묘법으로 그린 대나무", "alt_text")
        assert step["skipped"] == ["en[0]:template", "ko[0]:template"]
    # Every backend ran on every row (collect = "all"): the tiny captioner and both translators included.
    candidates = json.loads(food["caption_en_candidates"]) + json.loads(food["caption_ko_candidates"])
    models = {c["model"] for c in candidates if c["source"] in ("model", "translation")}
    assert models == {"tiny-captioner", "tiny-translator-ko-en", "tiny-translator-en-ko"}
    assert step["candidates"]["en[2]:image-to-text"] == kept and step["candidates"]["ko[2]:translate"] == kept


def test_demo_builds_the_sample_parallel_corpus(demo_run: tuple[Path, list[dict]]) -> None:
    _, steps = demo_run
    step = {s["step"]: s for s in steps}["corpus"]
    corpus = open_manifest(step["output"])
    assert corpus.kind.name == "parallel" and corpus.num_rows == 301
    assert step["stats"]["kept"] == 301 and step["stats"]["split/train"] + step["stats"]["split/validation"] == 301
    first = corpus.read_table().to_pylist()[0]
    assert (first["ko"], first["en"], first["category"]) == (
        "한복은 한국의 전통 의복이다.", "Hanbok is the traditional clothing of Korea.", "hanbok")


def test_demo_filter_scopes_ink_paintings_and_rejects_duplicate_and_blur(demo_run: tuple[Path, list[dict]]) -> None:
    workdir, steps = demo_run
    filtered = open_manifest(workdir / "04-filtered")
    rows = {r["key"]: r for r in filtered.read_table(["key", "status", "reason", "duplicate_of", "category",
                                                      "clip_score", "aesthetic_score", "nsfw_score"]).to_pylist()}
    assert len(rows) == 22 and [s["stage"] for s in filtered.lineage_chain][:2] == ["filter", "verify"]
    small = rows["hanbok-00-small"]
    assert (small["status"], small["reason"]) == ("rejected", "duplicate_of=hanbok-00")
    assert rows["hanbok-00-small"]["duplicate_of"] == "hanbok-00" and rows["hanbok-00"]["status"] == "ok"
    assert (rows["hanok-12-blurred"]["status"], rows["hanok-12-blurred"]["reason"]) == ("rejected", "blur")
    inks = [r for r in rows.values() if r["category"] == "ink_painting"]
    assert len(inks) == 6 and all(r["status"] == "ok" for r in inks)
    assert all(r["clip_score"] is not None and r["aesthetic_score"] is not None and r["nsfw_score"] is not None
               for r in rows.values())
    report = workdir / "04-filtered" / "report"
    assert (report / "index.html").exists() and (report / "hist_clip_score.png").exists()
    assert {s["step"]: s for s in steps}["filter"]["report"] == str(report)


def test_demo_trains_a_lora_on_korean_captions_and_draws_from_a_korean_prompt(
    demo_run: tuple[Path, list[dict]],
) -> None:
    from PIL import Image
    from safetensors import safe_open

    workdir, steps = demo_run
    lora = {s["step"]: s for s in steps}["lora"]
    out = Path(lora["output"])
    assert lora["caption_col"] == "caption_ko" and lora["steps"] == 4  # the caption step's Korean captions
    assert lora["files"] == ["README.md", "lora.safetensors", "pytorch_lora_weights.safetensors"]
    with safe_open(str(out / "lora" / "lora.safetensors"), "pt") as f:
        assert f.metadata()["ss_caption_column"] == lora["caption_col"]
    sidecar = json.loads(Path(lora["sidecar"]).read_text(encoding="utf-8"))
    assert sidecar["prompt"] == lora["prompt"] and any("\uac00" <= ch <= "\ud7a3" for ch in sidecar["prompt"])
    assert sidecar["loras"][0]["path"] == str(out / "lora") and sidecar["base"]["id"] == "tiny-sd"
    assert Image.open(lora["image"]).size == (64, 64)


def test_demo_trains_evaluates_and_exports_a_korean_text_encoder(demo_run: tuple[Path, list[dict]]) -> None:
    from PIL import Image
    from transformers import CLIPTextModel, CLIPTokenizer

    workdir, steps = demo_run
    encoder = {s["step"]: s for s in steps}["encoder"]
    export = Path(encoder["export"])
    assert export.parent.parent == workdir / "08-encoder" and encoder["steps"] == 40
    assert encoder["last_loss"] < encoder["first_loss"]
    # Better than no training: the teacher itself reading the Korean text through byte fallback.
    assert encoder["eval"]["denoise_mse"] < encoder["reference"]["denoise_mse"]
    assert encoder["eval"]["mean_cosine"] > encoder["reference"]["mean_cosine"]
    model = CLIPTextModel.from_pretrained(export, subfolder="text_encoder")
    tokenizer = CLIPTokenizer.from_pretrained(export, subfolder="tokenizer")
    assert model.config.vocab_size == len(tokenizer) and Image.open(encoder["image"]).size == (64, 64)


def test_demo_evaluates_bundled_korean_prompts_through_each_t2i_pipeline(demo_run: tuple[Path, list[dict]]) -> None:
    import csv

    workdir, steps = demo_run
    step = {s["step"]: s for s in steps}["eval-t2i"]
    with open(step["csv"], newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    pipelines = ("ko-encoder", "translate", "english-reference")
    assert [(r["prompt_id"], r["pipeline"]) for r in rows] == [
        (p, q) for p in ("hanbok-01", "hanbok-02", "hanbok-03") for q in pipelines]
    assert all(float(r["total_s"]) > 0 and 0 <= float(r["clip_ko"]) <= 100 for r in rows)
    assert Path(step["report"]) == workdir / "85-eval-t2i" / "report.html"
    assert Path(step["report"]).read_text(encoding="utf-8").count("<img src='images/") == 9
    assert list(step["medians"]) == list(pipelines) and Path(step["report_md"]).exists()
    assert Path(step["text_encoder"]).is_relative_to(workdir)  # the Korean encoder the demo's encoder step exported
