"""``eval t2i``'s plan: the defaults by name, every model found before any image, Korean-only prompt sets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kdata.errors import ConfigError
from ktrain.t2i.evaluate import T2IEvalConfig, plan_evaluation
from ktrain.t2i.locate import HUB, STABLE_DIFFUSION, TRANSLATOR, NotFound, locate, locate_clip
from ktrain.t2i.plan import plan_t2i
from ktrain.t2i.prompts import load_prompts
from tests.helpers.net import unused_port
from tests.t2i.fake_hub import FakeModelHub
from tests.t2i.tiny import KOREAN_ONLY, write_prompts

TINY = {"translator": "tiny-translator-ko-en", "english_clip": "tiny-clip", "korean_clip": "tiny-open-clip"}
ALL = ["ko-encoder", "translate", "english-reference"]
OFFLINE_FIX = {
    "--translator": "give --translator a local folder, a Hub id that is cached or reachable, or tiny-translator-ko-en; "
                    "or leave translate out of --pipelines",
    "--english-clip": "give --english-clip a local folder, a Hub id that is cached or reachable, an open_clip spec or "
                      "tiny-clip; or --english-clip none to skip the English score",
}
UNCACHED = "not a local path, not in the Hugging Face cache, and downloads are off (HF_HUB_OFFLINE=1)"


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache, whatever this machine has downloaded."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def cache_file(cache: Path, repo: str, name: str) -> None:
    """One file of ``repo`` laid out as huggingface_hub's downloads are (refs/main -> snapshots/<commit>/)."""
    folder, commit = cache / f"models--{repo.replace('/', '--')}", "1" * 40
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
    (folder / "snapshots" / commit).mkdir(parents=True, exist_ok=True)
    (folder / "snapshots" / commit / name).write_text("{}")


def _config(tmp_path: Path, rows: list[dict] | None = None, **changes: object) -> T2IEvalConfig:
    prompts = write_prompts(tmp_path / "prompts.jsonl", rows)
    return T2IEvalConfig(**{"base": "tiny-sd", "out": str(tmp_path / "eval"), "prompts": str(prompts), **changes})


def _plan(config: T2IEvalConfig):  # noqa: ANN202 - a T2IPlan
    return plan_t2i(config, load_prompts(config.prompts, config.limit))


def test_defaults_are_named_and_each_pipeline_and_score_says_which_model_it_uses(tmp_path: Path) -> None:
    plan = _plan(_config(tmp_path))
    assert [(m.role, m.option, m.spec, m.default, m.used_by) for m in plan.models] == [
        ("base", "--base", "tiny-sd", False, ("ko-encoder", "translate")),
        ("text encoder", "--text-encoder", None, True, ("ko-encoder",)),
        ("translator", "--translator", "facebook/m2m100_418M", True, ("translate",)),
        ("English CLIP", "--english-clip", "openai/clip-vit-large-patch14", True, ("clip_en",)),
        ("Korean CLIP", "--korean-clip", "Bingsu/clip-vit-large-patch14-ko", True, ("clip_ko",)),
    ]
    assert plan.scores == ["clip_en", "clip_ko"]
    assert plan.notes == ["ko-encoder reads Korean with the base's own text encoder (no --text-encoder given): a "
                          "smoke test, not the Korean encoder"]
    given = _plan(_config(tmp_path, pipelines=["english-reference"], english_clip="none", korean_clip="tiny-clip"))
    assert [(m.role, m.spec, m.default) for m in given.models] == [("base", "tiny-sd", False),
                                                                    ("Korean CLIP", "tiny-clip", False)]
    assert (given.scores, given.english_clip, given.translator) == (["clip_ko"], None, "facebook/m2m100_418M")
    assert given.notes == ["clip_en is not scored (--english-clip none)"]


def test_offline_every_uncached_default_is_refused_in_one_line_naming_the_option(tmp_path: Path, hf_cache: Path
                                                                                 ) -> None:
    with pytest.raises(ConfigError) as error:
        plan_evaluation(_config(tmp_path))
    assert str(error.value) == (f"--translator facebook/m2m100_418M (default): {UNCACHED}; "
                                f"{OFFLINE_FIX['--translator']} (also not found: --english-clip, --korean-clip)")
    with pytest.raises(ConfigError) as error:
        plan_evaluation(_config(tmp_path, pipelines=["ko-encoder"], korean_clip="tiny-clip"))
    assert str(error.value) == (f"--english-clip openai/clip-vit-large-patch14 (default): {UNCACHED}; "
                                f"{OFFLINE_FIX['--english-clip']}")
    assert not (tmp_path / "eval").exists()


def test_presets_local_folders_and_cached_models_are_found(tmp_path: Path, hf_cache: Path,
                                                           encoder_folder: Path) -> None:
    for repo in ("facebook/m2m100_418M", "openai/clip-vit-large-patch14", "Bingsu/clip-vit-large-patch14-ko"):
        cache_file(hf_cache, repo, "config.json")
    plan = plan_evaluation(_config(tmp_path, pipelines=ALL, text_encoder=str(encoder_folder)))
    assert [(m.role, m.found) for m in plan.models] == [
        ("base", "tiny preset"), ("text encoder", "local"), ("translator", "Hugging Face cache"),
        ("English CLIP", "Hugging Face cache"), ("Korean CLIP", "Hugging Face cache")]
    assert _plan(_config(tmp_path)).models[1].found == ""  # found only by check_models
    assert plan_evaluation(_config(tmp_path, pipelines=["ko-encoder"], **TINY)).models[1].found == "the base's own"


@pytest.mark.parametrize(("changes", "message"), [
    ({"english_clip": "tiny-sd"}, "--english-clip tiny-sd: preset 'tiny-sd' is a stable-diffusion model, not CLIP "
                                  "(presets that fit: tiny-clip, tiny-open-clip); give --english-clip"),
    ({"translator": "tiny-clip"}, "--translator tiny-clip: preset 'tiny-clip' is a hf-clip model, not a translator "
                                  "(presets that fit: tiny-translator-en-ko, tiny-translator-ko-en); give"),
    ({"text_encoder": "/no/such/encoder"}, "--text-encoder /no/such/encoder: no such local file or folder; give "
                                           "--text-encoder an encoder folder"),
    ({"text_encoder": "org/encoder"}, "--text-encoder org/encoder: no such local file or folder; give"),
    ({"base": "out/no/such/base"}, "--base out/no/such/base: no such local file or folder; give --base a diffusers "
                                   "folder, a Hub id that is cached or reachable, or tiny-sd"),
    ({"base": "org/no-such-sd"}, f"--base org/no-such-sd: {UNCACHED}; give --base"),
    ({"korean_clip": "hf-hub:org/missing"}, f"--korean-clip hf-hub:org/missing: {UNCACHED}; give --korean-clip"),
    ({"korean_clip": "local-dir:/no/such"}, "--korean-clip local-dir:/no/such: no such local folder; give"),
    ({"korean_clip": "ViT-B-32:no-such-tag"}, "--korean-clip ViT-B-32:no-such-tag: open_clip has no pretrained "
                                              "weights 'no-such-tag' for 'ViT-B-32'"),
])
def test_a_model_that_cannot_be_found_is_one_line_naming_its_option(tmp_path: Path, hf_cache: Path,
                                                                    changes: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        plan_evaluation(_config(tmp_path, pipelines=ALL, **{**TINY, **changes}))
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch, hf_cache: Path) -> Iterator[FakeModelHub]:
    """Downloads allowed, against a fake Hub holding a diffusers base and a translator's config."""
    from huggingface_hub import constants

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with FakeModelHub({"org/sd/model_index.json", "org/translator/config.json"}) as hub:
        _point_at(monkeypatch, hub.url)
        yield hub


def _point_at(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """What HF_ENDPOINT does when set before huggingface_hub is imported (both are read once, at import)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")


def test_online_a_hub_id_is_looked_for_with_one_head_request(online: FakeModelHub) -> None:
    assert locate("org/sd", STABLE_DIFFUSION) == HUB and locate("org/translator", TRANSLATOR) == HUB
    for spec, kind, reason in (
        ("org/translator", STABLE_DIFFUSION, f"not a model on {online.url} (no model_index.json in org/translator)"),
        ("org/missing", TRANSLATOR, f"not a model on {online.url} (no config.json in org/missing)"),
    ):
        with pytest.raises(NotFound) as error:
            locate(spec, kind)
        assert str(error.value) == f"not a local path or cached, and {reason}"
    with pytest.raises(NotFound) as error:
        locate_clip("org/gated")
    assert str(error.value) == (f"a gated model on {online.url}: accept its terms there, then log in (hf auth login) "
                                "or set HF_TOKEN")
    assert online.asked == ["/org/sd/resolve/main/model_index.json", "/org/translator/resolve/main/config.json",
                            "/org/translator/resolve/main/model_index.json", "/org/missing/resolve/main/config.json",
                            "/org/gated/resolve/main/config.json"]


def test_online_an_unreachable_hub_is_named(online: FakeModelHub, monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = f"http://127.0.0.1:{unused_port()}"  # nothing listens there
    _point_at(monkeypatch, endpoint)
    with pytest.raises(NotFound) as error:
        locate("org/translator", TRANSLATOR)
    assert str(error.value).startswith(f"not a local path or cached, and {endpoint} could not be reached (ConnectError")


def test_a_korean_only_set_leaves_out_the_english_score_and_refuses_english_when_asked(tmp_path: Path) -> None:
    plan = _plan(_config(tmp_path, KOREAN_ONLY, pipelines=["ko-encoder", "translate"], korean_clip="tiny-clip"))
    assert plan.scores == ["clip_ko"] and plan.english_clip is None
    assert [m.role for m in plan.models] == ["base", "text encoder", "translator", "Korean CLIP"]
    assert plan.notes[-1] == ("clip_en is not scored: 2 of 2 prompts have no en (first: 'hanok-a'), and the English "
                              "CLIP reads English")
    with pytest.raises(ConfigError) as error:
        _config(tmp_path, KOREAN_ONLY, pipelines=["ko-encoder", "english-reference"])
    assert str(error.value) == ("--pipelines english-reference: it renders each prompt's English text, but 2 of 2 "
                                "prompts have no en (first: 'hanok-a'); leave english-reference out of --pipelines, or "
                                "give every prompt an en")
    mixed = [KOREAN_ONLY[0], {**KOREAN_ONLY[1], "en": "a bowl of bibimbap"}]
    with pytest.raises(ConfigError) as error:
        _config(tmp_path, mixed, english_clip="tiny-clip")
    assert str(error.value) == ("--english-clip tiny-clip: it scores images against each prompt's English text, but 1 "
                                "of 2 prompts have no en (first: 'hanok-a'); leave --english-clip out (the score is "
                                "then skipped), or give every prompt an en")
    assert not (tmp_path / "eval").exists()
