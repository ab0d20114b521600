"""Uploading: the token never lands in a file or a log line, and every Hub failure is one clear line."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from kdata.manifest import Manifest
from kdata.publish import PublishConfig, export_dataset
from tests.helpers.cli import kcli
from tests.helpers.net import unused_port
from tests.publish.fake_hub import FakeHub
from tests.publish.manifests import write_filtered_manifest

FAKE_TOKEN = "hf_FAKEkcliTestToken0123456789abcdef"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    return write_filtered_manifest(tmp_path_factory.mktemp("hub") / "manifests")


def publish(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``kcli publish`` with the Hub reachable in principle (offline mode off), no token or endpoint from this
    environment, and homes under tmp_path."""
    online = {"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf-home"),
              "KCLI_HOME": str(tmp_path / "kcli-home"), **env}
    return kcli("publish", *args, env=online, unset=("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT"),
                timeout=300)


def test_fake_token_is_used_but_never_written_or_logged(manifest: Manifest, tmp_path: Path) -> None:
    with FakeHub() as hub:
        done = publish(tmp_path, str(manifest.path), "--repo-id", "org/name", "--to", str(tmp_path / "export"),
                       HF_TOKEN=FAKE_TOKEN, HF_ENDPOINT=hub.url, HF_HUB_VERBOSITY="debug")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: the Hub at {hub.url} rejected the token (HTTP 401); run `hf auth login` or set HF_TOKEN"
    )
    bearer = f"Bearer {FAKE_TOKEN}"
    sent = [(r["method"], r["path"].split("?")[0]) for r in hub.requests if r["authorization"] == bearer]
    assert ("GET", "/api/whoami-v2") in sent and ("POST", "/api/repos/create") in sent  # the env token was used
    assert (tmp_path / "export" / "README.md").exists()  # the export was made before the upload was refused
    assert FAKE_TOKEN not in done.stdout and FAKE_TOKEN not in done.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) >= 4  # README, a data file, sample grid, kcli_export.json (plus any Hub cache files)
    assert [p for p in written if FAKE_TOKEN.encode() in p.read_bytes()] == []


def test_offline_mode_is_a_one_line_error_before_any_work(manifest: Manifest, tmp_path: Path) -> None:
    done = publish(tmp_path, str(manifest.path), "--repo-id", "org/name", HF_TOKEN=FAKE_TOKEN, HF_HUB_OFFLINE="1")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: the Hugging Face Hub is unreachable: offline mode is on (HF_HUB_OFFLINE=1); unset it to upload to "
        "org/name, or export locally with --to DIR"
    ]
    assert not (tmp_path / "kcli-home" / "publish").exists()


def test_unreachable_endpoint_is_a_one_line_error(manifest: Manifest, tmp_path: Path) -> None:
    port = unused_port()  # nothing listens there: the connection is refused
    done = publish(tmp_path, str(manifest.path), "--repo-id", "org/name",
                   HF_TOKEN=FAKE_TOKEN, HF_ENDPOINT=f"http://127.0.0.1:{port}")
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot reach the Hugging Face Hub at http://127.0.0.1:{port} (ConnectError")
    assert FAKE_TOKEN not in done.stderr


def test_missing_token_is_a_one_line_error(manifest: Manifest, tmp_path: Path) -> None:
    done = publish(tmp_path, str(manifest.path), "--repo-id", "org/name")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: no Hugging Face token: set HF_TOKEN or run `hf auth login`, then publish again"
    ]


def test_upload_sends_exactly_the_exported_folder(
    manifest: Manifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub
    from huggingface_hub import constants

    calls: dict[str, dict] = {}

    def listing(folder: Path) -> dict[str, bytes]:
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    def fake_upload(self, **kwargs):  # noqa: ANN001, ANN003, ANN202
        calls["upload"] = {**kwargs, "files": listing(Path(kwargs["folder_path"]))}
        return SimpleNamespace(commit_url="https://huggingface.co/datasets/org/name/commit/1")

    monkeypatch.setattr(constants, "is_offline_mode", lambda: False)
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("KCLI_HOME", str(tmp_path / "kcli-home"))
    monkeypatch.setattr(huggingface_hub.HfApi, "whoami", lambda self, **kw: {"name": "tester"})
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo",
                        lambda self, repo_id, **kw: calls.setdefault("create", {"repo_id": repo_id, **kw}) and
                        f"https://hub/datasets/{repo_id}")
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", fake_upload)

    from kdata.publish.publish import publish_manifest, staging_dir

    outcome = publish_manifest(manifest.path, PublishConfig(repo_id="org/name"), private=True)
    assert calls["create"] == {"repo_id": "org/name", "repo_type": "dataset", "private": True, "exist_ok": True}
    upload = calls["upload"]
    assert (upload["repo_id"], upload["repo_type"]) == ("org/name", "dataset")
    assert Path(upload["folder_path"]) == staging_dir("org/name") and upload["delete_patterns"] == ["data/*.parquet"]
    local = export_dataset(manifest.path, tmp_path / "local", PublishConfig(repo_id="org/name"))
    assert upload["ignore_patterns"] == [".kcli-lock", ".kcli-output.json"]  # kcli's marker and lock stay local

    def sent(files: dict[str, bytes]) -> dict[str, bytes]:
        return {name: data for name, data in files.items() if name not in upload["ignore_patterns"]}

    assert ".kcli-output.json" in listing(local.path)
    assert sent(upload["files"]) == sent(listing(local.path))  # --to writes exactly what is uploaded
    assert 'load_dataset("org/name", split="train")' in upload["files"]["README.md"].decode()
    assert outcome["upload"]["commit_url"] == "https://huggingface.co/datasets/org/name/commit/1"
