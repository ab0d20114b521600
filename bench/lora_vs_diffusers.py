"""``kcli train lora`` against diffusers' ``train_text_to_image_lora.py`` on the same data, side by side.

    python bench/lora_vs_diffusers.py --script /path/to/train_text_to_image_lora.py \
        [--tensorboard-path DIR] [--trials 3] [--steps 40] [--sd15-steps 4] [--sd15-trials 1]

diffusers' example script is not shipped by any package: copy it from a diffusers checkout
(``examples/text_to_image/train_text_to_image_lora.py``) and say which commit. Its default
``--report_to tensorboard`` needs tensorboard importable: ``pip install --target DIR tensorboard`` and
pass ``--tensorboard-path DIR`` (appended to ``sys.path``, after the venv's own packages, so the copies
of Pillow and numpy that pip put in DIR are never the ones imported).

Two comparisons, each with the tools alternating (kcli first in odd trials, the script first in even
ones) so that load from other jobs hits both alike:

1. tiny-sd (kcli's preset, random weights) on 32 generated images at 64 px, batch 8, ``--steps``
   optimizer steps, LoRA rank 4, lr 1e-4 constant, one torch thread each.
2. An SD 1.5-size UNet, text encoder and VAE (random weights built from the published configs:
   runwayml/stable-diffusion-v1-5's ``unet/``, ``text_encoder/`` and ``vae/config.json``), 256 px, batch 1,
   ``--sd15-steps`` steps. The VAE is SD 1.5's own width because its encoder is part of the script's every
   step (kcli encodes each image once, into its latent cache).

Each run prints its wall time (process start to exit), its start-up (to the first optimizer step), its
steady steps/s (optimizer steps after the first ``--warmup``, timed by a hook on every
``torch.optim.Optimizer.step`` in the process, the same for both tools) and the load average; then the
ratios of the medians: kcli's wall over the script's, and kcli's steady steps/s over the script's.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# Runs a tool with a post-hook on every optimizer step; the step times go to $BENCH_STAMPS at exit.
SHIM = """
import atexit, json, os, runpy, sys, time
sys.path += [p for p in os.environ.get("BENCH_EXTRA_PATH", "").split(os.pathsep) if p]  # after the venv's own
import torch.optim.optimizer as optimizer
stamps = []
optimizer.register_optimizer_step_post_hook(lambda opt, args, kwargs: stamps.append(time.time()))
atexit.register(lambda: open(os.environ["BENCH_STAMPS"], "w").write(json.dumps(stamps)))
target, sys.argv = sys.argv[1], sys.argv[1:]
runpy.run_module("kcli", run_name="__main__") if target == "kcli" else runpy.run_path(target, run_name="__main__")
"""
# runwayml/stable-diffusion-v1-5 unet/, vae/ and text_encoder/config.json (the sizes that matter).
SD15_UNET: dict[str, Any] = {
    "block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2, "attention_head_dim": 8,
    "cross_attention_dim": 768, "in_channels": 4, "out_channels": 4, "norm_num_groups": 32, "sample_size": 64,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}
SD15_VAE = {"block_out_channels": [128, 256, 512, 512], "layers_per_block": 2, "latent_channels": 4,
            "norm_num_groups": 32, "sample_size": 512, "down_block_types": ["DownEncoderBlock2D"] * 4,
            "up_block_types": ["UpDecoderBlock2D"] * 4}
SD15_TEXT = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
             "hidden_act": "quick_gelu", "projection_dim": 768}


def tiny_sd_folder() -> Path:
    from kdata.models import resolve_model

    return Path(resolve_model("tiny-sd", "stable-diffusion"))


def sd15_size_folder(work: Path) -> Path:
    """tiny-sd's tokenizer and scheduler with an SD 1.5-size UNet, text encoder and VAE."""
    import diffusers
    import torch
    import transformers

    from kdata.models.clip_tokenizer import BOS_TOKEN_ID, CLIP_CONTEXT_LENGTH, CLIP_VOCAB_SIZE, EOS_TOKEN_ID

    folder = work / "sd15-size"
    shutil.copytree(tiny_sd_folder(), folder, ignore=shutil.ignore_patterns("unet", "text_encoder", "vae"))
    torch.manual_seed(0)
    diffusers.UNet2DConditionModel(**SD15_UNET).save_pretrained(folder / "unet")
    text = transformers.CLIPTextConfig(vocab_size=CLIP_VOCAB_SIZE, max_position_embeddings=CLIP_CONTEXT_LENGTH,
                                       bos_token_id=BOS_TOKEN_ID, eos_token_id=EOS_TOKEN_ID,
                                       pad_token_id=EOS_TOKEN_ID, **SD15_TEXT)
    transformers.CLIPTextModel(text).save_pretrained(folder / "text_encoder")
    # SD 1.5's VAE at its own width: the script encodes every step's images with it, kcli once into its cache.
    diffusers.AutoencoderKL(**SD15_VAE).save_pretrained(folder / "vae")
    return folder


def make_images(work: Path, count: int, size: int) -> tuple[Path, Path]:
    """``count`` photo-like images as diffusers' imagefolder (with metadata.jsonl) and as a kcli manifest."""
    import numpy as np
    import pyarrow as pa
    from PIL import Image

    from kdata.manifest import Lineage, write_manifest
    from kdata.samples import sample_rows
    from kdata.schema import IMAGE, conform_table

    folder, plain = work / f"images-{size}", work / f"images-{size}-kcli"
    folder.mkdir()
    plain.mkdir()
    lines = []
    for i in range(count):
        rng = np.random.default_rng(i)
        y, x = np.mgrid[0:size, 0:size] / size
        pixels = np.stack([128 + 100 * np.sin(2 * np.pi * (x * rng.uniform(0.5, 3) + y * c)) for c in (0, .4, .8)], -1)
        buffer = io.BytesIO()
        Image.fromarray(pixels.astype(np.uint8), "RGB").save(buffer, "JPEG", quality=95)
        caption = f"a pattern number {i}"
        (folder / f"{i:03d}.jpg").write_bytes(buffer.getvalue())
        (plain / f"{i:03d}.jpg").write_bytes(buffer.getvalue())
        (plain / f"{i:03d}.json").write_text(json.dumps({"title": caption}))
        lines.append(json.dumps({"file_name": f"{i:03d}.jpg", "text": caption}))
    (folder / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    table = conform_table(pa.Table.from_pylist(sample_rows(plain)), IMAGE)
    manifest = write_manifest(work / f"manifest-{size}", [table], IMAGE, Lineage(stage="bench", config={}))
    return folder, manifest.path


def kcli_command(base: Path, manifest: Path, out: Path, size: int, batch: int, steps: int) -> list[str]:
    return ["kcli", "train", "lora", "--manifest", str(manifest), "--base", str(base), "--out", str(out),
            "--caption-col", "title", "--resolution", str(size), "--batch-size", str(batch), "--max-steps",
            str(steps), "--rank", "4", "--learning-rate", "1e-4", "--set", f"bucket_step={min(size, 64)}",
            "--set", f"cache_dir='{out}-cache'", "--json"]


def script_command(script: Path, base: Path, images: Path, out: Path, size: int, batch: int, steps: int) -> list[str]:
    return [str(script), "--pretrained_model_name_or_path", str(base), "--train_data_dir", str(images),
            "--caption_column", "text", "--resolution", str(size), "--train_batch_size", str(batch),
            "--max_train_steps", str(steps), "--rank", "4", "--learning_rate", "1e-4", "--lr_scheduler", "constant",
            "--lr_warmup_steps", "0", "--seed", "0", "--dataloader_num_workers", "0", "--output_dir", str(out)]


def run_one(name: str, command: list[str], env: dict[str, str], warmup: int, work: Path) -> dict[str, float]:
    stamps_file = work / f"stamps-{name}.json"
    stamps_file.unlink(missing_ok=True)
    started = time.time()
    done = subprocess.run([sys.executable, "-c", SHIM, *command], env={**env, "BENCH_STAMPS": str(stamps_file)},
                          cwd=work, capture_output=True, text=True)
    wall = time.time() - started
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-4000:]}")
    stamps = json.loads(stamps_file.read_text())
    steady = stamps[warmup:]
    rate = (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) > 1 else float("nan")
    load = os.getloadavg()
    result = {"wall": wall, "startup": stamps[0] - started, "tail": started + wall - stamps[-1], "rate": rate}
    print(f"    {name:9s} wall {wall:6.2f} s, start-up {result['startup']:5.2f} s, after last step "
          f"{result['tail']:5.2f} s, steady {rate:5.2f} steps/s ({len(stamps)} steps; "
          f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})", flush=True)
    return result


def compare(label: str, commands: dict[str, list[str]], env: dict[str, str], trials: int, warmup: int,
            work: Path) -> None:
    print(f"  {label}:", flush=True)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in commands}
    for index in range(trials):
        order = list(commands) if index % 2 == 0 else list(reversed(commands))
        for name in order:
            for leftover in work.glob(f"out-{name}*"):
                shutil.rmtree(leftover, ignore_errors=True)
            results[name].append(run_one(name, commands[name], env, warmup, work))
    wall = {n: statistics.median(r["wall"] for r in rs) for n, rs in results.items()}
    rate = {n: statistics.median(r["rate"] for r in rs) for n, rs in results.items()}
    print(f"    median wall: kcli {wall['kcli']:.2f} s, diffusers {wall['diffusers']:.2f} s -> kcli / diffusers "
          f"= {wall['kcli'] / wall['diffusers']:.2f}x wall (lower is better)")
    print(f"    median steady: kcli {rate['kcli']:.2f}, diffusers {rate['diffusers']:.2f} steps/s -> "
          f"{rate['kcli'] / rate['diffusers']:.2f}x steps/s (higher is better)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--script", type=Path, required=True, help="diffusers' train_text_to_image_lora.py")
    parser.add_argument("--tensorboard-path", type=Path, default=None, help="a --target folder holding tensorboard")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5, help="steps left out of the steady rate")
    parser.add_argument("--sd15-steps", type=int, default=4, help="0 skips the SD 1.5-size comparison")
    parser.add_argument("--sd15-trials", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lora-bench-"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "WANDB_MODE": "disabled",
           "KCLI_HOME": os.environ.get("KCLI_HOME", str(work / "home")), "HF_HOME": str(work / "hf"),
           "PYTHONPATH": str(REPO), "BENCH_EXTRA_PATH": str(args.tensorboard_path or "")}
    try:
        print(f"torch threads 1 each, {os.cpu_count()} cores; diffusers script {args.script}", flush=True)
        images, manifest = make_images(work, 32, 64)
        base = tiny_sd_folder()
        compare(f"tiny-sd, 32 images at 64 px, batch 8, {args.steps} steps, rank 4",
                {"kcli": kcli_command(base, manifest, work / "out-kcli", 64, 8, args.steps),
                 "diffusers": script_command(args.script, base, images, work / "out-diffusers", 64, 8, args.steps)},
                env, args.trials, args.warmup, work)
        if args.sd15_steps and args.sd15_trials:  # --sd15-trials 0: the tiny comparison only
            images, manifest = make_images(work, 4, 256)
            base = sd15_size_folder(work)
            compare(f"SD 1.5-size UNet, text encoder and VAE, 4 images at 256 px, batch 1, {args.sd15_steps} steps",
                    {"kcli": kcli_command(base, manifest, work / "out-kcli", 256, 1, args.sd15_steps),
                     "diffusers": script_command(args.script, base, images, work / "out-diffusers", 256, 1,
                                                 args.sd15_steps)},
                    env, args.sd15_trials, max(0, min(args.warmup, args.sd15_steps - 2)), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()
    print(f"load at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (quote ratios taken at load < 2)")


if __name__ == "__main__":
    main()
