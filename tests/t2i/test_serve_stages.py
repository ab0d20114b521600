"""``kcli serve`` with a LoRA folder, the refiner and upscaler switches and the side-by-side comparison: the
request checks, and the page driven by real Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdata.errors import ConfigError
from ktrain.t2i.serve.engine import loras_in_folder
from ktrain.t2i.serve.limits import Features, GenerateRequest, RequestRejected, ServeLimits, check_request
from tests.helpers.browser import ARTIFACTS, CHROMIUM, INSTALL_CHROMIUM, LAUNCH_ARGS
from tests.t2i.http import post
from tests.t2i.tiny import KOREAN_LORA

LIMITS = ServeLimits(max_steps=8)
ALL = Features(("ko-encoder", "translate"), refiner=True, upscaler=True)


def _check(features: Features, **fields: object) -> object:
    return check_request(GenerateRequest(prompt="매화", **fields), LIMITS, [], 64, 8, features)


@pytest.mark.parametrize(("fields", "message"), [
    ({"refine": True}, "This server has no refiner (start it with --refiner)."),
    ({"upscale": True}, "This server has no upscaler (start it with --upscaler)."),
    ({"pipeline": "translate"},
     "Unknown pipeline 'translate'; available: ko-encoder (start the server with --translator to compare)."),
    ({"pipeline": "x"}, "Unknown pipeline 'x'; available: ko-encoder."),
])
def test_stages_and_pipelines_a_server_lacks_are_refused(fields: dict, message: str) -> None:
    with pytest.raises(RequestRejected) as caught:
        _check(Features(), **fields)
    assert str(caught.value) == message


def test_a_server_with_every_stage_accepts_them() -> None:
    job = _check(ALL, refine=True, upscale=True, pipeline="translate", seed=5)
    assert (job.pipeline, job.refine, job.upscale, job.seed) == ("translate", True, True, 5)
    assert (_check(ALL).pipeline, _check(ALL).refine, _check(ALL).upscale) == ("ko-encoder", False, False)


def test_lora_folder_lists_files_and_kcli_lora_folders_by_name(tmp_path: Path) -> None:
    (tmp_path / "ink.safetensors").write_bytes(b"x")
    (tmp_path / KOREAN_LORA).mkdir()
    (tmp_path / KOREAN_LORA / "pytorch_lora_weights.safetensors").write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    (tmp_path / "readme.md").write_text("x")
    assert loras_in_folder(str(tmp_path)) == {"ink": str(tmp_path / "ink.safetensors"),
                                              KOREAN_LORA: str(tmp_path / KOREAN_LORA)}


def test_lora_folder_problems_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such folder"):
        loras_in_folder(str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match=r"no LoRA in it \(NAME.safetensors files"):
        loras_in_folder(str(tmp_path))
    (tmp_path / "!bad.safetensors").write_bytes(b"x")
    with pytest.raises(ConfigError, match="!bad.safetensors: a name is .* U\\+0021 is not allowed; rename it"):
        loras_in_folder(str(tmp_path))


def test_translate_path_over_http_times_translation_and_refines_from_english(serve_stages_process: dict) -> None:
    url = serve_stages_process["url"]
    assert serve_stages_process["ready"]["refiner"] == "tiny-sdxl-refiner"
    status, _, korean = post(url + "api/generate", {"prompt": "매화", "seed": 4, "steps": 2, "refine": True})
    assert status == 200, korean
    assert list(korean["timings"]) == ["text_encode_s", "denoise_s", "decode_s", "refine_s", "encode_png_s",
                                       "queue_wait_s", "total_s"]
    assert korean["prompt_used"] == "매화"
    status, _, translated = post(url + "api/generate", {"prompt": "매화", "seed": 4, "steps": 2,
                                                         "pipeline": "translate", "upscale": True})
    assert status == 200, translated
    assert list(translated["timings"])[:5] == ["translate_s", "text_encode_s", "denoise_s", "upscale_s", "decode_s"]
    assert translated["prompt_used"] != "매화" and translated["pipeline"] == "translate"


@pytest.mark.browser
def test_page_picks_a_lora_from_the_folder_toggles_the_refiner_compares_and_keeps_a_gallery(
    serve_stages_process: dict,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), INSTALL_CHROMIUM
    ARTIFACTS.mkdir(exist_ok=True)
    stages = "rows => rows.map(r => r.dataset.stage)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(serve_stages_process["url"])
        page.wait_for_selector("body[data-ready='true']")
        assert page.locator(".lora label").all_text_contents() == ["ink", KOREAN_LORA]
        expect(page.locator("#refine-row")).to_be_visible()
        expect(page.locator("#refine-prompt")).to_contain_text("high quality, detailed, sharp focus")
        expect(page.locator("#compare-button")).to_be_visible()

        page.fill("#prompt", "한옥 마당에 핀 매화")
        page.get_by_label(KOREAN_LORA, exact=True).check()
        page.fill("#seed", "3")
        page.fill("#steps", "2")
        page.check("#refine")
        page.click("#submit")
        expect(page.locator("#gallery .past")).to_have_count(1, timeout=120_000)
        assert page.locator("#timings tbody tr").evaluate_all(stages) == [
            "text_encode", "denoise", "decode", "refine", "encode_png", "queue_wait", "total"]
        expect(page.locator("#meta")).to_contain_text(f"LoRA: {KOREAN_LORA} × 1 · refined")
        refined = page.locator("#image").get_attribute("src")

        page.uncheck("#refine")
        page.click("#submit")
        expect(page.locator("#gallery .past")).to_have_count(2, timeout=120_000)
        assert page.locator("#timings tbody tr").evaluate_all(stages) == [
            "text_encode", "denoise", "decode", "encode_png", "queue_wait", "total"]
        assert page.locator("#image").get_attribute("src") != refined
        assert page.locator("#gallery .past").evaluate_all("items => items.map(i => i.dataset.refined)") == [
            "false", "true"]
        assert page.locator("#gallery .past img").nth(1).get_attribute("src") == refined

        page.click("#compare-button")
        expect(page.locator("#gallery .past")).to_have_count(4, timeout=120_000)
        expect(page.locator("#compare")).to_be_visible()
        korean = page.locator("#compare .side[data-pipeline='ko-encoder']")
        translated = page.locator("#compare .side[data-pipeline='translate']")
        assert korean.locator("tbody tr").evaluate_all(stages)[0] == "text_encode"
        assert translated.locator("tbody tr").evaluate_all(stages)[0] == "translate"
        expect(korean.locator(".used")).to_have_text("한옥 마당에 핀 매화")
        # The tiny translator's random weights write gibberish; what matters is that the translation was read.
        assert translated.locator(".used").text_content() not in ("", "한옥 마당에 핀 매화")
        assert korean.locator("img").get_attribute("src") != translated.locator("img").get_attribute("src")
        assert page.locator("#gallery .past").evaluate_all("items => items.map(i => i.dataset.pipeline)") == [
            "translate", "ko-encoder", "ko-encoder", "ko-encoder"]
        page.screenshot(path=str(ARTIFACTS / "serve-stages-compare.png"), full_page=True)
        assert errors == []
        browser.close()
