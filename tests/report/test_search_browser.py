"""The report's search box, histogram bars, duplicates and lightbox, driven in real Chromium (Debian's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdata.index import IndexConfig, PromptIndex, build_index
from kdata.report import write_report
from kdata.report.search import index_search
from kdata.report.serve import ReportServer
from tests.helpers.browser import ARTIFACTS, CHROMIUM, INSTALL_CHROMIUM, LAUNCH_ARGS
from tests.publish.manifests import write_filtered_manifest

QUERY = "한복 입은 여인"
KEYS = "cards => cards.map(c => c.dataset.key)"


@pytest.fixture
def served(tmp_path: Path):  # noqa: ANN201 - yields (server, index folder, report)
    manifest = write_filtered_manifest(tmp_path / "manifests")
    index = build_index(manifest.path, tmp_path / "idx", IndexConfig(cache_dir=str(tmp_path / "cache")))
    report = write_report(manifest.path, tmp_path / "report")
    server = ReportServer(report.path, search=index_search(index.path, manifest.path)).start()
    try:
        yield server, index.path, report
    finally:
        server.stop()


@pytest.mark.browser
def test_search_histogram_duplicates_and_lightbox_in_chromium(served) -> None:  # noqa: ANN001
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), INSTALL_CHROMIUM
    server, index_path, report = served
    expected = [h.key for h in PromptIndex.open(index_path).search(QUERY, 48).hits]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(server.url)
        assert page.locator("#grid .card").first.bounding_box()["y"] < 400  # images on the first screen
        assert not page.locator("#histograms").evaluate("d => d.open")  # histograms folded

        page.fill("#query", QUERY)
        page.press("#query", "Enter")
        page.wait_for_selector("#search-clear:not([hidden])")
        shown = page.locator("#grid .card").evaluate_all(KEYS)
        assert sorted(shown) == sorted(expected) and shown[0] == expected[0]
        assert page.locator("#grid .card .search-score").first.text_content().startswith("match ")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report-search.png"))
        page.click("#search-clear")
        assert page.locator("#grid .card").count() == report.shown

        # The food-19 duplicate sits right after its representative, food-18.
        order = page.locator("#grid .card").evaluate_all(KEYS)
        assert order[order.index("food-18") + 1] == "food-19"
        assert page.locator('.card[data-key="food-19"] .dup-of').text_content() == "duplicate of food-18"

        # Scores are rounded on the cards.
        numbers = page.locator('.card[data-key="hanbok-01"] .numbers').text_content()
        assert all(len(part.split(" ")[1].split(".")[1]) == 3 for part in numbers.split(" · ")), numbers

        page.click("#histograms summary")
        data = page.evaluate("JSON.parse(document.getElementById('report-data').textContent)")
        edges = data["hist_bins"]["clip_score"]["edges"]
        page.click('.bar[data-column="clip_score"][data-bin="0"]')
        in_bin = {i["key"] for i in data["items"] if edges[0] <= i["numbers"].get("clip_score", -1) < edges[1]}
        assert in_bin and set(page.locator("#grid .card").evaluate_all(KEYS)) == in_bin
        page.click('.bar[data-column="clip_score"][data-bin="0"]')  # again: cleared
        assert page.locator("#grid .card").count() == report.shown

        page.click('.card[data-key="hanbok-03"] .thumb img')
        assert page.locator("#lightbox").evaluate("d => d.open")
        assert "/large/" in page.locator("#lightbox-img").evaluate("img => img.src")
        assert page.locator("#lightbox-img").evaluate("img => img.naturalWidth") > 160
        page.screenshot(path=str(ARTIFACTS / "report-lightbox.png"))
        assert errors == []
        browser.close()
