"""``kcli models fetch``: pinned downloads, checked by sha256 before they land, against a local HTTP server."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kcli.main import app
from kdata.errors import KcliError
from kdata.models import assets
from kdata.models.assets import ASSETS, DownloadableAsset, HubFile, UrlFile, fetch_asset
from kdata.registry import Registry
from tests.helpers.cli import kcli
from tests.helpers.net import unused_port

PAYLOAD = b"aesthetic head bytes " * 500
OTHER = b"something else entirely " * 400


class FileServer:
    """Serves fixed bytes per path on 127.0.0.1 (404 elsewhere) and counts the requests."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files, self.requests = files, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server hook name
                server.requests.append(self.path)
                body = server.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FileServer]:
    files = FileServer({"/good/head.pth": PAYLOAD, "/other/head.pth": OTHER})
    yield files
    files.close()


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


def _use(monkeypatch: pytest.MonkeyPatch, *sources: UrlFile | HubFile, payload: bytes = PAYLOAD) -> DownloadableAsset:
    """Point the asset table at one fake asset with ``payload``'s checksum, served from ``sources``."""
    asset = DownloadableAsset(
        name="fake-head", filename="head.pth", sha256=hashlib.sha256(payload).hexdigest(), size=len(payload),
        sources=sources, section="aesthetic", key="weights", description="a fake head", homepage="", license="MIT")
    table: Registry[DownloadableAsset] = Registry("downloadable asset")
    table.add(asset.name, asset)
    monkeypatch.setattr(assets, "ASSETS", table)
    return asset


def test_download_is_verified_moved_into_place_and_not_repeated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                server: FileServer, online: None) -> None:
    _use(monkeypatch, UrlFile(f"{server.url}/good/head.pth"))
    result = fetch_asset("fake-head", tmp_path / "heads")
    target = tmp_path / "heads" / "head.pth"
    assert result.path == target and target.read_bytes() == PAYLOAD
    assert result.source == f"{server.url}/good/head.pth" and result.size == len(PAYLOAD)
    assert result.setting_line == f'[aesthetic] weights = "{target}"'
    assert sorted(p.name for p in (tmp_path / "heads").iterdir()) == ["head.pth"]  # no temporary left over
    again = fetch_asset("fake-head", tmp_path / "heads")
    assert again.source is None and again.to_dict()["downloaded"] is False
    assert server.requests == ["/good/head.pth"]  # the second call verified the file and fetched nothing


@pytest.mark.parametrize(("served", "message"), [
    (OTHER, r"sent a file with sha256 [0-9a-f]{64} \(9,600 bytes\), not the expected [0-9a-f]{64} "
            r"\(10,500 bytes\); nothing was saved"),
    (PAYLOAD + b"x" * (2 << 20), r"sent more than the expected 10,500 bytes; nothing was saved"),
])
def test_a_file_with_another_checksum_is_refused_and_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             server: FileServer, online: None, served: bytes,
                                                             message: str) -> None:
    server.files["/served/head.pth"] = served
    # The mismatch stops the fetch: the good source after it is not tried.
    _use(monkeypatch, UrlFile(f"{server.url}/served/head.pth"), UrlFile(f"{server.url}/good/head.pth"))
    with pytest.raises(KcliError, match=message) as caught:
        fetch_asset("fake-head", tmp_path)
    assert "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == [] and server.requests == ["/served/head.pth"]


def test_unreachable_sources_are_skipped_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  server: FileServer, online: None) -> None:
    monkeypatch.setattr(assets, "HTTP_RETRIES", 0)  # a refused connection is not retried three times here
    closed = f"http://127.0.0.1:{unused_port()}/head.pth"
    _use(monkeypatch, UrlFile(closed), UrlFile(f"{server.url}/missing/head.pth"),
         UrlFile(f"{server.url}/good/head.pth"))
    assert fetch_asset("fake-head", tmp_path).source == f"{server.url}/good/head.pth"


def test_a_hub_source_goes_through_hf_hub_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   online: None) -> None:
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    calls = []

    def fake_download(repo_id: str, filename: str, *, revision: str, local_dir: Path) -> str:
        calls.append((repo_id, filename, revision))
        if repo_id == "org/gone":
            raise LocalEntryNotFoundError("cannot reach the Hub")
        path = Path(local_dir) / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(PAYLOAD)
        return str(path)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    _use(monkeypatch, HubFile("org/gone", "head.pth"), HubFile("org/heads", "mirror-name.pt", revision="v1"))
    result = fetch_asset("fake-head", tmp_path)
    assert result.source == "https://huggingface.co/org/heads/resolve/v1/mirror-name.pt"
    assert calls == [("org/gone", "head.pth", "main"), ("org/heads", "mirror-name.pt", "v1")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["head.pth"]  # saved under the asset's name, scratch gone


def test_nothing_reachable_says_what_to_download_by_hand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         server: FileServer, online: None) -> None:
    _use(monkeypatch, UrlFile(f"{server.url}/missing/head.pth"))
    with pytest.raises(KcliError) as caught:
        fetch_asset("fake-head", tmp_path)
    assert str(caught.value) == (
        f"could not download fake-head ({server.url}/missing/head.pth: HTTP 404); download head.pth by hand from "
        f"{server.url}/missing/head.pth (sha256 {hashlib.sha256(PAYLOAD).hexdigest()}) into {tmp_path}, then run "
        f"`kcli models fetch fake-head --to {tmp_path}` to verify it")


def test_offline_names_the_file_and_its_source_and_verifies_a_copy_put_there_by_hand(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: FileServer) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    asset = _use(monkeypatch, UrlFile(f"{server.url}/good/head.pth"))
    with pytest.raises(KcliError) as caught:
        fetch_asset("fake-head", tmp_path)
    assert str(caught.value) == (
        f"downloads are off (HF_HUB_OFFLINE=1): download head.pth by hand from {server.url}/good/head.pth "
        f"(sha256 {asset.sha256}) into {tmp_path}, then run `kcli models fetch fake-head --to {tmp_path}` to "
        "verify it")
    assert server.requests == []
    (tmp_path / "head.pth").write_bytes(PAYLOAD)
    assert fetch_asset("fake-head", tmp_path).source is None


def test_a_different_file_already_there_is_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      server: FileServer, online: None) -> None:
    _use(monkeypatch, UrlFile(f"{server.url}/good/head.pth"))
    (tmp_path / "head.pth").write_bytes(OTHER)
    with pytest.raises(KcliError, match=r"head.pth exists but its sha256 is [0-9a-f]{64}, not fake-head's "):
        fetch_asset("fake-head", tmp_path)
    assert (tmp_path / "head.pth").read_bytes() == OTHER and server.requests == []


def test_the_command_prints_the_file_and_the_filter_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            server: FileServer, online: None) -> None:
    _use(monkeypatch, UrlFile(f"{server.url}/good/head.pth"))
    runner = CliRunner()
    done = runner.invoke(app, ["models", "fetch", "fake-head", "--to", str(tmp_path)])
    assert done.exit_code == 0, done.output
    assert f'filter: [aesthetic] weights = "{tmp_path / "head.pth"}"' in done.stdout
    done = runner.invoke(app, ["models", "fetch", "fake-head", "--to", str(tmp_path), "--json"])
    data = json.loads(done.stdout)
    assert (data["downloaded"], data["path"], data["setting"]) == (
        False, str(tmp_path / "head.pth"), f'[aesthetic] weights = "{tmp_path / "head.pth"}"')


def test_the_pinned_aesthetic_head_fits_the_filter_and_fails_offline_in_one_line(tmp_path: Path) -> None:
    from kdata.filter.config import AESTHETIC_ASSET

    asset = ASSETS.get(AESTHETIC_ASSET)  # the name the filter's messages point at
    assert re.fullmatch(r"[0-9a-f]{64}", asset.sha256) and asset.size == 3_714_759
    assert re.search(r"/raw/[0-9a-f]{40}/", asset.sources[0].url)  # pinned to a commit, not a branch
    assert asset.filename == "sac+logos+ava1-l14-linearMSE.pth" and asset.setting == "[aesthetic] weights"
    done = kcli("models", "fetch", "laion-aesthetic-vit-l-14", "--to", str(tmp_path))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "downloads are off (HF_HUB_OFFLINE=1): download " \
        "sac+logos+ava1-l14-linearMSE.pth by hand from https://github.com/christophschuhmann/" in done.stderr
    unknown = kcli("models", "fetch", "aesthetic")
    assert unknown.returncode == 2 and "valid names: laion-aesthetic-vit-l-14" in unknown.stderr
