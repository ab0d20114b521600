"""The ``kcli demo`` step for the Korean text encoder: distil tiny-sd's text encoder on the demo's parallel
corpus for a few steps, evaluate it on the held-out pairs, and draw from a Korean prompt with the export.

Re-running the demo continues the same run (``--resume latest``); when it is finished it only re-evaluates.
The export folder is recorded as ``ctx.artifacts["text_encoder"]`` for later steps (LoRA, generation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kdata.demo_context import DemoContext, StepResult

OUT = "08-encoder"
PROMPT = "한복을 입은 여인이 한옥 마당에 서 있다"
# Tiny settings: a 32-wide teacher, 8 x 8 latents for the UNet terms (the UNet is convolutional).
DEMO_SETTINGS: dict[str, Any] = {
    "max_steps": 40, "batch_size": 16, "learning_rate": 2e-3, "warmup_steps": 5, "checkpoint_every": 20,
    "checkpoints_total_limit": 1, "vocab_size": 2000, "min_frequency": 1, "unet_latent_size": 8, "eval_latents": 1,
    "log_every": 5,
}


def demo_pairs(ctx: DemoContext, out: Path) -> Path:
    """The corpus step's manifest when the demo has one, else the bundled 50 seed pairs."""
    if ctx.parallel_manifest is not None:
        return Path(ctx.parallel_manifest)
    from kdata.manifest import DESCRIPTOR
    from ktrain.encoder.data import write_seed_manifest

    seed = out / "seed-pairs"
    if not (seed / DESCRIPTOR).exists():
        write_seed_manifest(seed)
    return seed


def step_encoder(ctx: DemoContext) -> StepResult:
    from ktrain.encoder.config import EncoderTrainConfig
    from ktrain.encoder.evaluate import evaluate_encoder
    from ktrain.encoder.loop import StaleRunError, train_encoder

    out = ctx.path(OUT)
    pairs = demo_pairs(ctx, out)
    config = EncoderTrainConfig(pairs=str(pairs), teacher="tiny-sd", out=str(out / "run"), **DEMO_SETTINGS)
    with _single_thread():
        try:
            result = train_encoder(config, resume="latest")
        except StaleRunError:  # the corpus (or these settings) changed since the last demo run: start over
            result = train_encoder(config, overwrite=True)
        export = Path(result.exports.get("best") or result.exports["final"])
        evaluation = evaluate_encoder(export, pairs, "tiny-sd", num_latents=1, latent_size=8, reference=True)
        image = draw(export, out / "korean-prompt.png")
    ctx.artifacts["text_encoder"] = export
    keys = ("pairs", "r_at_1", "r_at_5", "chance_r_at_1", "mean_cosine", "denoise_mse", "denoise_relative")
    summary = {
        "export": str(export), "steps": result.steps, "first_loss": result.first_loss, "last_loss": result.last_loss,
        "eval": {k: evaluation[k] for k in keys}, "reference": {k: evaluation["reference"][k] for k in keys},
        "image": str(image), "prompt": PROMPT,
        "note": f"held-out R@1 {evaluation['r_at_1']:.2f} (chance {evaluation['chance_r_at_1']:.2f}); "
                f"export {export}",
    }
    return StepResult("encoder", out, summary)


def draw(export: Path, target: Path) -> Path:
    """Generate from the Korean prompt with tiny-sd reading it through the exported encoder."""
    import torch

    from ktrain.encoder.export import load_pipeline

    pipe = load_pipeline("tiny-sd", export)
    generator = torch.Generator("cpu").manual_seed(0)
    image = pipe(PROMPT, num_inference_steps=2, generator=generator, height=64, width=64).images[0]
    image.save(target)
    return target


class _single_thread:
    """Tiny models do microseconds of work per op, so a thread pool's barriers dominate: on this project's
    shared 2-core machine one thread ran the tiny UNet about 20 times faster than two. Restored on exit."""

    def __enter__(self) -> None:
        import torch

        self.threads = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        import torch

        torch.set_num_threads(self.threads)
