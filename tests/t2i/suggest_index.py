"""A tiny prompt index for the suggestion tests: Korean and English prompts, one of them hostile markup."""

from __future__ import annotations

from pathlib import Path

from tests.index.corpus import write_prompts

HOSTILE_PROMPT = "<img src=x onerror=\"window.__pwned = 2\"> 한옥 <script>window.__pwned = 1</script>"
SUGGEST_PROMPTS = ["눈 덮인 한옥 마을", "a hanok village in the snow, ink painting", "한복 입은 여인",
                   "cyberpunk city at night, neon lights", "수묵화로 그린 소나무", HOSTILE_PROMPT]


def build_prompt_index(root: Path) -> Path:
    """``kcli index build``'s library call on SUGGEST_PROMPTS with the tiny CLIP text tower (the default)."""
    from kdata.index import IndexConfig, build_index

    prompts = write_prompts(root / "prompts.jsonl", SUGGEST_PROMPTS)
    return build_index(prompts, root / "prompts.idx", IndexConfig()).path
