"""The report in real Chromium (Debian's, through playwright): facets filter the grid, sorting works."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdata.report import write_report
from kdata.report.serve import ReportServer
from tests.helpers.browser import ARTIFACTS, CHROMIUM, INSTALL_CHROMIUM, LAUNCH_ARGS
from tests.publish.manifests import REJECTED, filtered_rows, write_filtered_manifest


@pytest.mark.browser
def test_clicking_a_reason_facet_shows_exactly_that_reasons_images(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), INSTALL_CHROMIUM
    manifest = write_filtered_manifest(tmp_path / "manifests")
    report = write_report(manifest.path, tmp_path / "report")
    server = ReportServer(report.path).start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(server.url)
            assert page.locator("#grid .card").count() == 22

            page.click('.facet-value[data-facet="reason"][data-value="blurry"]')
            shown = page.locator("#grid .card").evaluate_all("cards => cards.map(c => c.dataset.key)")
            assert sorted(shown) == sorted(k for k, r in REJECTED.items() if r == "blurry")
            assert page.locator("#count").text_content() == "2 of 22 images"
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report-reason-facet.png"), full_page=True)

            page.click("#clear")
            page.select_option("#sort", "clip_score:desc")
            first = page.locator("#grid .card").first.get_attribute("data-key")
            best = max(filtered_rows(), key=lambda row: row["clip_score"])["key"]
            assert first == best
            assert errors == []
            browser.close()
    finally:
        server.stop()
