"""Names that come from data never become paths: ``eval t2i`` prompt ids, ``kcli view``'s fingerprint folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdata.errors import ConfigError, ManifestError
from kdata.report.serve import report_dir, report_key
from ktrain.t2i.prompts import Prompt, load_prompts
from tests.helpers.cli import kcli
from tests.t2i.tiny import write_prompts

BAD_IDS = ["../../x", "../../../escaped", "/tmp/kcli-escaped", "a/b", "a\\b", "..", ".hidden", "x" * 65, "한복-01",
           "a b", "C:x", "a\nb", "x\x00y"]


def _prompt(prompt_id: str) -> dict[str, str]:
    return {"id": prompt_id, "category": "c", "ko": "한옥", "en": "a hanok"}


@pytest.mark.parametrize("prompt_id", BAD_IDS)
def test_an_id_that_is_not_a_plain_file_name_is_refused_naming_its_line(tmp_path: Path, prompt_id: str) -> None:
    path = write_prompts(tmp_path / "p.jsonl", [_prompt("fine-1"), _prompt(prompt_id)])
    with pytest.raises(ConfigError) as error:
        load_prompts(path)
    assert str(error.value).startswith(f"{path}:2: prompt id ")
    assert "is not a plain file name" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(ConfigError, match="is not a plain file name"):
        Prompt(prompt_id, "c", "한옥", "a hanok")  # however a prompt is made


def test_plain_ids_load_and_ids_differing_only_in_case_are_refused(tmp_path: Path) -> None:
    ids = ["hanbok-01", "a.b_c-D", "9" * 64]
    assert [p.id for p in load_prompts(write_prompts(tmp_path / "ok.jsonl", [_prompt(i) for i in ids]))] == ids
    path = write_prompts(tmp_path / "case.jsonl", [_prompt("Hanok-1"), _prompt("hanok-1")])
    with pytest.raises(ConfigError, match=r"case.jsonl:2: prompt id 'hanok-1' differs from 'Hanok-1' only in case"):
        load_prompts(path)


def test_eval_t2i_refuses_a_climbing_prompt_id_before_writing_anything(tmp_path: Path) -> None:
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    prompts = write_prompts(work / "p.jsonl", [_prompt("../../../escaped")])
    done = kcli("eval", "t2i", "--base", "tiny-sd", "--out", str(work / "out"), "--prompts", str(prompts),
                "--pipelines", "ko-encoder", "--english-clip", "tiny-clip", "--korean-clip", "tiny-clip",
                "--steps", "1", "--warmup", "0", env={"OMP_NUM_THREADS": "1"}, timeout=600)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [
        f"error: {prompts}:1: prompt id '../../../escaped' is not a plain file name: use at most 64 ASCII letters, "
        "digits, '.', '_' and '-', starting with a letter or digit"]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["a", "a/b", "a/b/p.jsonl"]


def _tamper_fingerprint(manifest_path: Path, fingerprint: str) -> None:
    descriptor_path = manifest_path / "manifest.json"
    descriptor = json.loads(descriptor_path.read_text(encoding="utf-8"))
    descriptor["fingerprint"] = fingerprint
    descriptor_path.write_text(json.dumps(descriptor), encoding="utf-8")


HOSTILE_FINGERPRINTS = ["../../x", "/tmp/kcli-escaped", "..", "a/../../..", "", "ABCDEF0123456789zz"]


@pytest.mark.parametrize("fingerprint", HOSTILE_FINGERPRINTS)
def test_a_report_folder_name_is_hex_whatever_the_fingerprint(fingerprint: str) -> None:
    """Two defences: the descriptor check refuses such a fingerprint on open, and the folder name would not
    follow it anyway."""
    key = report_key(fingerprint)
    assert len(key) == 16 and set(key) <= set("0123456789abcdef")


@pytest.mark.parametrize("fingerprint", HOSTILE_FINGERPRINTS)
def test_report_dir_refuses_a_tampered_fingerprint(
    sample_manifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fingerprint: str  # noqa: ANN001
) -> None:
    monkeypatch.setenv("KCLI_HOME", str(tmp_path / "home"))
    real = sample_manifest.fingerprint
    assert report_dir(sample_manifest.path) == tmp_path / "home" / "reports" / real[:16]  # unchanged for real ones
    _tamper_fingerprint(sample_manifest.path, fingerprint)
    with pytest.raises(ManifestError, match="fingerprint"):
        report_dir(sample_manifest.path)


def test_kcli_view_with_a_tampered_fingerprint_is_one_line_and_writes_nothing(sample_manifest, tmp_path: Path,  # noqa: ANN001
                                                                              ) -> None:
    _tamper_fingerprint(sample_manifest.path, "../../../../view-escaped")
    home = tmp_path / "deep" / "er" / "home"
    done = kcli("view", str(sample_manifest.path), "--port", "0", "--json", env={"KCLI_HOME": str(home)}, timeout=60)
    assert done.returncode != 0 and "fingerprint" in done.stderr and "Traceback" not in done.stderr, done.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file() and sample_manifest.path not in p.parents]
    assert written == [] and not (tmp_path / "view-escaped").exists()
