"""The ``corpus`` step of ``kcli demo``: the bundled K-contents sentence pairs as a parallel manifest."""

from __future__ import annotations

from kdata.corpus.sample import SAMPLE_CORPUS
from kdata.demo_context import DemoContext, StepResult


def step_corpus(ctx: DemoContext) -> StepResult:
    from kdata.corpus.build import run_corpus_build

    out = ctx.path("07-corpus")
    result = run_corpus_build([SAMPLE_CORPUS], out)
    ctx.parallel_manifest = out
    return StepResult("corpus", out, {"rows": result.manifest.num_rows, "stats": result.stats})
