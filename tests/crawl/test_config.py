"""Crawl settings: polite defaults, layering defaults < file < command line, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdata.crawl.config import DEFAULT_CONTACT_URL, CrawlConfig, crawl_config
from kdata.crawl.settings import scrapy_settings
from kdata.errors import ConfigError
from tests.crawl.runs import crawl


def test_polite_defaults_reach_scrapy(tmp_path: Path) -> None:
    config = CrawlConfig(seeds=["https://example.org/"])
    settings = scrapy_settings(config, tmp_path)
    assert settings["ROBOTSTXT_OBEY"] is True and settings["ROBOTSTXT_USER_AGENT"] == "kcli"
    assert (settings["DOWNLOAD_DELAY"], settings["AUTOTHROTTLE_ENABLED"], settings["RETRY_TIMES"]) == (1.0, True, 2)
    assert settings["CONCURRENT_REQUESTS_PER_DOMAIN"] == 2 and settings["KCLI_ALLOW_PRIVATE"] is False
    assert settings["USER_AGENT"].startswith("kcli/") and DEFAULT_CONTACT_URL in settings["USER_AGENT"]
    launch = settings["PLAYWRIGHT_LAUNCH_OPTIONS"]
    assert launch["executable_path"] == "/usr/bin/chromium" and "--no-sandbox" in launch["args"]
    assert config.domains == ["example.org"]
    off = scrapy_settings(CrawlConfig(seeds=["https://a.test/"], js_auto=False, obey_robots=False), tmp_path)
    assert "DOWNLOAD_HANDLERS" not in off and off["ROBOTSTXT_OBEY"] is False


def test_layers_defaults_then_file_then_options(tmp_path: Path) -> None:
    file = tmp_path / "crawl.toml"
    file.write_text('seeds = ["https://a.test/"]\nmax_depth = 5\nmax_pages = 50\ncontact_url = "mailto:me@a.test"\n'
                    '[image]\nresize_mode = "keep_ratio"\nimage_size = 128\n', encoding="utf-8")
    config = crawl_config([], {"max_depth": 1, "include": ["/gallery/"], "exclude": None}, file)
    assert (config.max_depth, config.max_pages, config.include, config.exclude) == (1, 50, ["/gallery/"], [])
    assert config.seeds == ["https://a.test/"] and config.image.image_size == 128
    assert "mailto:me@a.test" in config.resolved_user_agent
    assert crawl_config(["https://b.test/"], {}, file).seeds == ["https://b.test/"]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("max_dept = 2\n", "unknown key 'max_dept'; valid keys:"),
        ("include = ['(unclosed']\n", "include pattern '(unclosed' is not a valid regex"),
        ("max_pages = -1\n", "max_pages = -1: expected int >= 0"),
        ("[image]\nresize = 'no'\n", "unknown key 'image.resize'"),
    ],
)
def test_bad_config_files_are_one_line_errors(tmp_path: Path, toml: str, message: str) -> None:
    file = tmp_path / "crawl.toml"
    file.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        crawl_config(["https://a.test/"], {}, file)


def test_cli_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "crawl.toml").write_text("delay = 1\n", encoding="utf-8")
    done = crawl("https://a.test/", "--out", str(tmp_path / "out"), "--config", str(tmp_path / "crawl.toml"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("error:") and "unknown key 'delay'" in done.stderr
    done = crawl("ftp://a.test/", "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "is not an http(s) URL" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


class _Req:
    def __init__(self, url: str, resource_type: str) -> None:
        self.url, self.resource_type = url, resource_type


def test_browser_aborts_images_and_guarded_addresses() -> None:
    import asyncio

    from kdata.crawl.browser import BrowserRequestFilter

    guarded, open_ = BrowserRequestFilter(allow_private=False), BrowserRequestFilter(allow_private=True)
    cases = [_Req("http://127.0.0.1/a.jpg", "image"), _Req("http://169.254.169.254/latest", "fetch"),
             _Req("http://127.0.0.1:8000/api.json", "xhr"), _Req("data:text/plain,hi", "fetch")]
    assert [asyncio.run(guarded(r)) for r in cases] == [True, True, True, False]
    assert [asyncio.run(open_(r)) for r in cases] == [True, False, False, False]
