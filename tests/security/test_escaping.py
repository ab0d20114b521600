"""Hostile text in captions, sources, licences, reasons, lineage and prompts stays text.

Through ``kcli publish --to`` the dataset card gains no tag, link, heading or YAML key; the HTML reports
(``kcli report``, the filter contact sheet, ``eval t2i``'s pages) show the text escaped; ``kcli serve``
answers bad sizes with 400 and sends a content policy with its page.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from kdata.manifest import Manifest
from kdata.markup import md_code, md_image, md_link, md_text, one_line, safe_url
from tests.helpers.cli import kcli
from tests.security.hostile_text import (
    ATTR,
    CAPTION_EN,
    CAPTION_KO,
    HEADING,
    HOSTILE_KEY,
    IMG,
    JS_LINK,
    SCRIPT,
    YAML_BREAK,
    assert_inert_html,
    parse_html,
    render_markdown,
    write_hostile_manifest,
)

CARD_KEYS = {"language", "license", "license_name", "size_categories", "task_categories", "pretty_name", "tags",
             "configs", "dataset_info"}
CARD_HEADINGS = ["How to load", "Filter funnel", "Sources and licences", "Models", "Columns", "Examples", "Privacy",
                 "Provenance"]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    return write_hostile_manifest(tmp_path_factory.mktemp("hostile"))


def front_matter(card: str) -> tuple[dict[str, Any], str]:
    """(the YAML header as parsed, the body) of a README.md."""
    match = re.match(r"---\n(.*?)\n---\n(.*)", card, re.S)
    assert match is not None, card[:300]
    return yaml.safe_load(match.group(1)), match.group(2)


# -- the helpers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ("a\n# b\r\nc\u2028d\x00e", "a # b c d e"),
    ("[x](javascript:alert(1))", "\\[x\\](javascript:alert(1))"),
    ("a | b", "a \\| b"),
    ("`code` *em* _em_ ~~s~~ $x$ \\", "\\`code\\` \\*em\\* \\_em\\_ \\~\\~s\\~\\~ \\$x\\$ \\\\"),
    *[(plain, plain) for plain in ("clip_model duplicate_of=food-18", "CC-BY-4.0 그릇에 담긴 비빔밥")],
    ("&lt;b&gt;", "&amp;lt;b&amp;gt;"),
    (None, ""),
])
def test_md_text_is_one_inert_line(value: Any, expected: str) -> None:
    assert md_text(value) == expected


@pytest.mark.parametrize(("url", "expected"), [
    ("https://example.com/a?b=1&c=2#d", "https://example.com/a?b=1&c=2#d"),
    ("http://example.com/a b", None),
    ("https://example.com/(x)'\"<y>", "https://example.com/%28x%29%27%22%3Cy%3E"),
    ("images/ko-encoder/hanok-a.png", "images/ko-encoder/hanok-a.png"),
    ("javascript:alert(1)", None), ("JavaScript:alert(1)", None), (" javascript:alert(1)", None),
    ("java\tscript:alert(1)", None), ("java\nscript:alert(1)", None), ("data:text/html,<script>", None),
    ("file:///etc/passwd", None), ("vbscript:x", None), ("http:no-host", None), ("//evil.example/x", None),
    ("/etc/passwd", None), ("../outside.png", None), ("a/%2e%2e/%2e%2e/x", None), ("a\\b", None), ("", None),
])
def test_safe_url_allows_only_http_and_paths_below_the_page(url: str, expected: str | None) -> None:
    assert safe_url(url) == expected


def test_links_and_code_fall_back_to_text() -> None:
    assert md_link("x", "javascript:alert(1)") == "x" and md_link("x", "https://a.example/") == "[x](https://a.example/)"
    assert md_image("a", "data:image/png;base64,AAAA") == "a" and md_image("a", "i/a.png") == "![a](i/a.png)"
    assert md_code("3746653ae5f9") == "`3746653ae5f9`" and md_code("a`b <i>") == "a\\`b &lt;i&gt;"
    assert one_line(" a\n\tb ") == "a b"


# -- the dataset card ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def card(hostile: Manifest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("publish") / "hub"
    done = kcli("publish", str(hostile.path), "--to", str(out), "--json")
    assert done.returncode == 0, done.stderr
    return out / "README.md"


def test_card_has_no_raw_html_link_or_heading_from_the_data(card: Path) -> None:
    text = card.read_text(encoding="utf-8")
    assert "<script" not in text.lower() and "<img" not in text.lower()
    assert not re.search(r"(?<!\\)\]\(\s*javascript:|<javascript:", text, re.I)  # no unescaped link syntax
    _, body = front_matter(text)
    page = assert_inert_html(render_markdown(body))
    assert page.headings == ["hub", *CARD_HEADINGS]
    images = [attrs for tag, attrs in page.tags if tag == "img"]
    assert images == [{"src": "sample_grid.jpg", "alt": "Sample images"}]
    assert [tag for tag, _ in page.tags if tag == "a"] == []
    # The text is still there, shown as text: one table row per example, the caption in it.
    rendered = render_markdown(body)
    assert "&lt;script&gt;window.__pwned = 1; alert(1)&lt;/script&gt; &lt;img src=x" in rendered
    assert "[click](javascript:alert(3))" in rendered


def test_card_yaml_has_only_the_expected_keys_and_loads(card: Path) -> None:
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    header, _ = front_matter(card.read_text(encoding="utf-8"))
    assert set(header) == CARD_KEYS
    assert header["license"] == "other" and re.fullmatch(r"[a-z0-9-]+", header["license_name"])
    loaded = DatasetCard.load(card)
    assert loaded.data.license == "other" and loaded.data.pretty_name == "hub"
    assert list(MetadataConfigs.from_dataset_card_data(loaded.data)) == ["default"]
    assert DatasetInfosDict.from_dataset_card_data(loaded.data)["default"].splits["train"].num_examples == 17


def test_a_hostile_title_and_column_name_stay_values_in_the_yaml(tmp_path: Path) -> None:
    import pyarrow as pa
    from huggingface_hub import DatasetCard

    from kdata.manifest import Lineage, write_manifest
    from kdata.publish import PublishConfig, export_dataset
    from kdata.samples import sample_rows
    from kdata.schema import IMAGE, conform_table

    column = f"notes{YAML_BREAK}{SCRIPT}"
    rows = [{**row, column: CAPTION_EN} for row in sample_rows()[:3]]
    source = write_manifest(tmp_path / "m", [conform_table(pa.Table.from_pylist(rows), IMAGE)], IMAGE,
                            Lineage(stage="unit", config={}))
    title = f"{YAML_BREAK}{HEADING}{SCRIPT}"
    export_dataset(source.path, tmp_path / "hub", PublishConfig(pretty_name=title))
    text = (tmp_path / "hub" / "README.md").read_text(encoding="utf-8")
    header, body = front_matter(text)
    assert set(header) == CARD_KEYS - {"license_name"} and header["license"] == "cc0-1.0"
    assert header["pretty_name"] == one_line(title)
    assert column in [feature["name"] for feature in header["dataset_info"]["features"]]
    assert DatasetCard.load(tmp_path / "hub" / "README.md").data.pretty_name == one_line(title)
    page = assert_inert_html(render_markdown(body))
    assert page.headings == [one_line(title), *CARD_HEADINGS]  # the title on its one line, nothing added
    assert "<script" not in body


# -- the HTML reports ---------------------------------------------------------------------------------------


def test_kcli_report_page_shows_the_text_escaped(hostile: Manifest, tmp_path: Path) -> None:
    out = tmp_path / "report"
    done = kcli("report", str(hostile.path), "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    html = (out / "index.html").read_text(encoding="utf-8")
    page = assert_inert_html(html, allowed_scripts=2)
    assert [attrs for tag, attrs in page.tags if tag == "script"] == [
        {"id": "report-data", "type": "application/json"}, {"src": "report.js"}]
    assert "# Stage heading &lt;script&gt;" in html  # the lineage stage, escaped by the template
    data = json.loads(re.search(r'<script id="report-data" type="application/json">(.*?)</script>', html,
                                re.S).group(1))
    item = next(i for i in data["items"] if i["key"] == HOSTILE_KEY)
    assert item["texts"] == [["ko", CAPTION_KO], ["en", CAPTION_EN]]  # handed to the page as data, not markup


@pytest.mark.browser
def test_kcli_report_runs_no_script_from_the_data_in_chromium(hostile: Manifest, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from kdata.report import write_report
    from kdata.report.serve import ReportServer
    from tests.helpers.browser import CHROMIUM, INSTALL_CHROMIUM, LAUNCH_ARGS

    assert Path(CHROMIUM).exists(), INSTALL_CHROMIUM
    server = ReportServer(write_report(hostile.path, tmp_path / "report").path).start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            page = browser.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(server.url)
            page.wait_for_selector("#grid .card")
            page.wait_for_timeout(300)  # let any injected image fail to load and fire its handler
            assert dialogs == [] and page.evaluate("window.__pwned") is None
            assert any(SCRIPT in text for text in page.locator("#grid .card .text").all_text_contents())
            browser.close()
    finally:
        server.stop()


def test_filter_contact_sheet_shows_the_text_escaped(tmp_path: Path) -> None:
    from kdata.filter.config import FilterConfig
    from kdata.filter.report import write_report

    manifest = write_hostile_manifest(tmp_path)
    out = write_report(manifest, FilterConfig(), {"total": manifest.num_rows}, {})
    html = (out / "index.html").read_text(encoding="utf-8")
    assert_inert_html(html)
    assert "<script" not in html and "&lt;script&gt;" in html


def _t2i_rows() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    config = {"base": f"{SCRIPT}`x`", "text_encoder": None, "translator": JS_LINK, "english_clip": "tiny-clip",
              "korean_clip": HEADING, "steps": 1, "guidance": 7.5, "seed": 0}
    numbers = {m: 0.01 for m in ("translate_s", "text_encode_s", "text_stage_s", "denoise_s", "decode_s", "total_s",
                                 "clip_en", "clip_ko")}
    rows = [{"prompt_id": "p-1", "pipeline": pipeline, "prompt_ko": f"{SCRIPT}{HEADING}", "prompt_en": JS_LINK,
             "prompt_used": f"{IMG}{ATTR}", "image": image, **numbers}
            for pipeline, image in (("ko-encoder", "images/ko-encoder/p-1.png"), ("translate", "javascript:alert(7)"))]
    return config, rows


def test_eval_t2i_reports_show_prompts_as_text() -> None:
    from ktrain.t2i.report import markdown, page, summarize

    config, rows = _t2i_rows()
    pipelines = ["ko-encoder", "translate"]
    summary = summarize(rows, pipelines)
    md = markdown(config, summary, rows, pipelines)
    assert "<script" not in md and "javascript:alert(7)" not in md
    rendered = assert_inert_html(render_markdown(md))
    assert rendered.headings == ["Korean prompts: text-to-image pipelines compared", "Images"]
    assert [attrs["src"] for tag, attrs in rendered.tags if tag == "img"] == ["images/ko-encoder/p-1.png"]
    html = page(config, summary, rows, pipelines)
    assert "<script" not in html
    assert [attrs["src"] for tag, attrs in assert_inert_html(html).tags if tag == "img"] == [
        "images/ko-encoder/p-1.png"]
    assert parse_html(html).headings == ["Korean prompts: text-to-image pipelines compared", "Images"]


# -- kcli serve ---------------------------------------------------------------------------------------------


class _Engine:
    lora_names = ["ink"]
    native_size = 64
    size_multiple = 8

    def describe(self) -> dict[str, Any]:
        return {"base": SCRIPT, "text_encoder": "fake", "device": "cpu"}

    def generate(self, job: Any) -> Any:
        raise AssertionError(f"a refused request reached the model: {job}")


def test_serve_refuses_zero_and_negative_sizes_and_sends_a_content_policy() -> None:
    from ktrain.t2i.serve.app import create_app
    from ktrain.t2i.serve.limits import ServeLimits
    from ktrain.t2i.serve.server import ServerThread
    from tests.t2i.http import post

    server = ServerThread(create_app(_Engine(), ServeLimits(max_image_size=128))).start()
    try:
        for body, message in (({"width": 0}, "Width must be a multiple of 8 between 8 and 128 pixels; got 0."),
                              ({"height": -8}, "Height must be a multiple of 8 between 8 and 128 pixels; got -8."),
                              ({"loras": [{"name": SCRIPT}]}, f"Unknown LoRA {SCRIPT!r}; available: ink.")):
            status, headers, answer = post(server.url + "api/generate", {"prompt": "한옥", **body})
            assert (status, answer) == (400, {"error": message})
            assert headers["content-type"] == "application/json"  # shown by the page as text, never parsed as HTML
        with urllib.request.urlopen(server.url, timeout=10) as response:
            policy = response.headers["Content-Security-Policy"]
            assert "default-src 'self'" in policy and "object-src 'none'" in policy
            assert response.headers["X-Content-Type-Options"] == "nosniff"
    finally:
        server.stop()


def test_lora_model_card_shows_a_tampered_manifest_fingerprint_as_text(tmp_path: Path) -> None:
    from ktrain.lora.config import LoraTrainConfig
    from ktrain.lora.export import ExportInfo, write_model_card
    from ktrain.lora.models import ModelRef

    config = LoraTrainConfig(manifest="m", out=str(tmp_path), base="tiny-sd")
    ref = ModelRef("tiny-sd", "", "0" * 64)
    fingerprint = "x`\n\n# Injected <script>alert(1)</script>"  # what a tampered manifest.json can carry
    card = write_model_card(tmp_path, ExportInfo(config, ref, ref, fingerprint, 1, 1, 1,
                                                 sample_grid="javascript:alert(2)")).read_text(encoding="utf-8")
    _, body = front_matter(card)
    page = assert_inert_html(render_markdown(body))
    assert page.headings == ["lora: LoRA for tiny-sd", "Files", "Use", "Final metrics", "Samples"]
    assert "<script" not in card and [tag for tag, _ in page.tags if tag == "img"] == []
