"""The ``kcli serve`` page in real Chromium: a Korean prompt with a LoRA renders an image and its timings; a
LoRA named in Korean is listed and picked by its name; an empty and an over-long prompt each get a clear
message."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.browser import ARTIFACTS, CHROMIUM, INSTALL_CHROMIUM, LAUNCH_ARGS
from tests.t2i.tiny import KOREAN_LORA


@pytest.mark.browser
def test_korean_prompt_with_a_lora_shows_the_image_and_timings_and_bad_prompts_get_messages(
    serve_process: dict,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), INSTALL_CHROMIUM
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 760})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(serve_process["url"])
        page.wait_for_selector("body[data-ready='true']")

        page.fill("#prompt", "한옥 마당에 핀 매화, 수묵화")
        assert page.locator(".lora label").all_text_contents() == ["ink", KOREAN_LORA]
        assert page.locator(".lora-pick").evaluate_all("picks => picks.map(p => p.id)") == ["lora-0", "lora-1"]
        page.get_by_label("ink", exact=True).check()
        page.get_by_title("weight of ink", exact=True).fill("0.8")
        page.fill("#seed", "7")
        page.fill("#steps", "2")
        page.click("#submit")
        expect(page.locator("#result")).to_be_visible(timeout=120_000)
        assert page.locator("#image").get_attribute("src").startswith("data:image/png;base64,")
        assert page.locator("#image").evaluate("img => img.complete && img.naturalWidth") == 64
        stages = page.locator("#timings tbody tr").evaluate_all("rows => rows.map(r => r.dataset.stage)")
        assert stages == ["text_encode", "denoise", "decode", "encode_png", "queue_wait", "total"]
        assert all(text.endswith(" ms") for text in page.locator("#timings tbody td:last-child").all_text_contents())
        expect(page.locator("#meta")).to_contain_text("seed 7 · 2 steps")
        expect(page.locator("#meta")).to_contain_text("LoRA: ink × 0.8")
        ink_image = page.locator("#image").get_attribute("src")

        page.get_by_label(KOREAN_LORA, exact=True).check()
        page.get_by_title(f"weight of {KOREAN_LORA}", exact=True).fill("0.5")
        page.click("#submit")
        expect(page.locator("#meta")).to_contain_text(f"LoRA: ink × 0.8, {KOREAN_LORA} × 0.5")
        assert page.locator("#image").get_attribute("src") != ink_image
        page.get_by_label(KOREAN_LORA, exact=True).uncheck()
        page.screenshot(path=str(ARTIFACTS / "serve-generated.png"), full_page=True)

        page.fill("#prompt", "")
        page.click("#submit")
        expect(page.locator("#message.error")).to_have_text(
            "Please enter a prompt (Korean text, up to 200 characters).")

        long_prompt = ("한복을 입은 여인이 " * 25).strip()
        assert len(long_prompt) == 274
        page.fill("#prompt", long_prompt)
        expect(page.locator("#count")).to_have_text("274 / 200")
        expect(page.locator("#count")).to_have_class("muted over")
        page.click("#submit")
        expect(page.locator("#message.error")).to_have_text(
            "The prompt is 274 characters long; the limit is 200 characters. Please shorten it.")
        page.screenshot(path=str(ARTIFACTS / "serve-too-long.png"), full_page=True)
        assert errors == []
        browser.close()
