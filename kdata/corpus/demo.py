"""The ``corpus`` step of ``kcli demo``: the bundled K-contents sentence pairs as a parallel manifest."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kdata.corpus.sample import SAMPLE_CORPUS

if TYPE_CHECKING:
    from kdata.demo import DemoContext, StepResult


def step_corpus(ctx: DemoContext) -> StepResult:
    from kdata.corpus.build import run_corpus_build
    from kdata.demo import StepResult

    out = ctx.path("07-corpus")
    result = run_corpus_build([SAMPLE_CORPUS], out)
    ctx.parallel_manifest = out
    return StepResult("corpus", out, {"rows": result.manifest.num_rows, "stats": result.stats})
