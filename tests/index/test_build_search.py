"""Build → search round trips on tiny presets, for each source kind and embedder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kdata.errors import ConfigError
from kdata.index import IndexConfig, PromptIndex, build_index
from tests.index.corpus import PAIRS, PROMPTS, write_parallel, write_prompts


@pytest.mark.parametrize(("embedder", "model"), [("clip", "hf:tiny-clip"), ("clip", "open_clip:tiny-open-clip"),
                                                 ("mean-pool", "tiny-clip")])
def test_every_prompt_finds_itself_first(tmp_path: Path, embedder: str, model: str) -> None:
    corpus = write_prompts(tmp_path / "prompts.jsonl", blank=2)
    result = build_index(corpus, tmp_path / "idx", IndexConfig(embedder=embedder, model=model, chunk_size=3))
    assert (result.rows, result.chunks, result.engine) == (len(PROMPTS), 3, "faiss")
    assert result.stats == {"total": len(PROMPTS) + 2, "indexed": len(PROMPTS), "skipped/no_text": 2}
    index = PromptIndex.open(tmp_path / "idx")
    for i, prompt in enumerate(PROMPTS):
        top = index.search(prompt, k=3)
        assert top.hits[0].key == f"img-{i:05d}.png" and top.hits[0].text == prompt
        assert top.hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert [h.score for h in top.hits] == sorted((h.score for h in top.hits), reverse=True)


def test_korean_encoder_folder_as_kcli_exports_it(tmp_path: Path) -> None:
    """A CLIPTextModel + tokenizer folder (what kcli train encoder writes) indexes and searches Korean."""
    import transformers

    from kdata.models import ensure_preset

    preset = ensure_preset("tiny-clip")
    folder = tmp_path / "ko-encoder"
    transformers.CLIPTextModel.from_pretrained(preset).save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(preset).save_pretrained(folder)
    corpus = write_prompts(tmp_path / "prompts.jsonl")
    result = build_index(corpus, tmp_path / "idx", IndexConfig(embedder="ko-encoder", model=str(folder)))
    assert result.dim == 32
    assert PromptIndex.open(tmp_path / "idx").search("눈 덮인 한옥 마을", 1).hits[0].text == "눈 덮인 한옥 마을"


def test_parallel_manifest_indexes_both_sides(tmp_path: Path) -> None:
    manifest = write_parallel(tmp_path / "pairs")
    result = build_index(manifest.path, tmp_path / "idx", IndexConfig())
    assert result.rows == 2 * len(PAIRS)
    index = PromptIndex.open(tmp_path / "idx")
    assert index.search(PAIRS[1][0], 1).hits[0].key == "pair-1:ko"
    assert index.search(PAIRS[2][1], 1).hits[0].key == "pair-2:en"


def test_image_manifest_reuses_the_filters_embedding_cache(tmp_path: Path, sample_manifest) -> None:  # noqa: ANN001
    from kdata.filter.clip import load_clip
    from kdata.filter.embed_cache import EmbeddingCache

    cache_dir = tmp_path / "cache"
    first = sample_manifest.read_table(["key", "sha256"]).to_pylist()[0]
    encoder = load_clip("hf", "tiny-clip")
    planted = np.zeros(encoder.dim, np.float32)
    planted[3] = 1.0  # a vector the image tower would never give: proof it came from the cache
    EmbeddingCache(cache_dir, encoder.model_id, encoder.dim).put_many([first["sha256"]], planted[None])
    result = build_index(sample_manifest.path, tmp_path / "idx", IndexConfig(cache_dir=str(cache_dir)))
    assert result.rows == sample_manifest.num_rows
    index = PromptIndex.open(tmp_path / "idx")
    assert index.search_vector(planted, 1).hits[0].key == first["key"]
    cache = EmbeddingCache(cache_dir, encoder.model_id, encoder.dim)
    assert all(sha in cache for sha in sample_manifest.read_table(["sha256"]).column("sha256").to_pylist())
    assert index.search("a photo", 3).hits[0].key  # text queries land in the image tower's space


def test_other_settings_on_an_existing_index_are_refused(tmp_path: Path) -> None:
    corpus = write_prompts(tmp_path / "prompts.jsonl")
    build_index(corpus, tmp_path / "idx", IndexConfig(chunk_size=4))
    with pytest.raises(ConfigError, match=r"other settings \(chunk_size\).*--overwrite"):
        build_index(corpus, tmp_path / "idx", IndexConfig(chunk_size=5))
    assert build_index(corpus, tmp_path / "idx", IndexConfig(chunk_size=5), overwrite=True).chunks == 2


def test_unknown_embedder_and_missing_column_are_one_line_errors(tmp_path: Path) -> None:
    corpus = write_prompts(tmp_path / "prompts.jsonl")
    with pytest.raises(ConfigError, match="unknown index embedder 'bert'; valid names: clip, ko-encoder, mean-pool"):
        build_index(corpus, tmp_path / "idx", IndexConfig(embedder="bert"))
    with pytest.raises(ConfigError, match="no text column 'caption'.*image_name, prompt"):
        build_index(corpus, tmp_path / "idx2", IndexConfig(text_column="caption"))
    with pytest.raises(ConfigError, match="not a finished index"):
        PromptIndex.open(tmp_path / "nowhere")
