"""``kcli serve --prompt-index`` in real Chromium: typing a Korean prompt shows the nearest prompts of a tiny
index with scores and the search time, hostile corpus text shows as text, one click puts a suggestion into
the box and that prompt renders; a server without an index has no suggestion panel."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.browser import ARTIFACTS, CHROMIUM, INSTALL_CHROMIUM, LAUNCH_ARGS
from tests.t2i.suggest_index import HOSTILE_PROMPT, SUGGEST_PROMPTS, build_prompt_index


@pytest.fixture(scope="module")
def suggest_process(encoder_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    from tests.t2i.http import start_serve

    root = tmp_path_factory.mktemp("serve-suggest")
    index = build_prompt_index(root)
    process, ready = start_serve(["--base", "tiny-sd", "--text-encoder", str(encoder_folder), "--prompt-index",
                                  str(index), "--max-steps", "8"], root / "stderr.log")
    try:
        yield {"url": ready["url"], "ready": ready, "index": index}
    finally:
        process.send_signal(signal.SIGINT)
        try:
            assert process.wait(timeout=30) == 0, (root / "stderr.log").read_text()[-3000:]
        finally:
            if process.poll() is None:
                process.kill()


def _texts(page) -> list[str]:  # noqa: ANN001 - a playwright Page
    return page.locator("#suggestions .suggestion-text").all_text_contents()


@pytest.mark.browser
def test_typing_shows_suggestions_and_a_click_puts_one_in_the_box_that_renders(suggest_process: dict) -> None:
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), INSTALL_CHROMIUM
    assert suggest_process["ready"]["prompt_index"] == str(suggest_process["index"])
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 760})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(suggest_process["url"])
        page.wait_for_selector("body[data-ready='true']")
        expect(page.locator("#suggest-panel")).to_be_visible()

        page.locator("#prompt").press_sequentially("눈 덮인 한옥 마을", delay=20)
        expect(page.locator("#suggestions .suggestion")).to_have_count(5, timeout=30_000)
        expect(page.locator("#suggestions .suggestion-text").first).to_have_text("눈 덮인 한옥 마을")
        expect(page.locator("#suggestions .suggestion-score").first).to_have_text("1.000")
        expect(page.locator("#suggest-time")).to_contain_text(" ms search")
        assert set(_texts(page)) <= set(SUGGEST_PROMPTS)

        page.fill("#prompt", HOSTILE_PROMPT)
        expect(page.locator("#suggestions .suggestion-text").first).to_have_text(HOSTILE_PROMPT, timeout=30_000)
        assert page.evaluate("window.__pwned") is None
        assert page.locator("#suggestions img, #suggestions script").count() == 0

        page.fill("#prompt", "")
        page.locator("#prompt").press_sequentially("수묵화 소나무", delay=20)
        expect(page.locator("#suggest-panel")).to_have_attribute("data-query", "수묵화 소나무", timeout=30_000)
        chosen = page.locator("#suggestions .suggestion-text").nth(1).text_content()
        assert chosen in SUGGEST_PROMPTS
        page.locator("#suggestions .suggestion").nth(1).click()
        expect(page.locator("#prompt")).to_have_value(chosen)
        expect(page.locator("#count")).to_have_text(f"{len(chosen.strip())} / 200")

        page.fill("#seed", "3")
        page.fill("#steps", "2")
        page.click("#submit")
        expect(page.locator("#result")).to_be_visible(timeout=120_000)
        assert page.locator("#image").evaluate("img => img.complete && img.naturalWidth") == 64
        expect(page.locator("#gallery .past figcaption").first).to_have_text(f"{chosen} · ko-encoder")
        page.screenshot(path=str(ARTIFACTS / "serve-suggestions.png"), full_page=True)
        assert errors == [] and page.evaluate("window.__pwned") is None
        browser.close()


@pytest.mark.browser
def test_without_a_prompt_index_the_page_has_no_suggestion_panel(serve_process: dict) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page()
        page.goto(serve_process["url"])
        page.wait_for_selector("body[data-ready='true']")
        assert page.locator("#suggest-panel").count() == 0
        assert serve_process["ready"]["prompt_index"] is None
        browser.close()
