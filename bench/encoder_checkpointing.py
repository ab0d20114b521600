"""Memory and time of one through-UNet loss step with and without gradient checkpointing, on a UNet of
SD-1.5's size.

Run: ``PYTHONPATH=. python bench/encoder_checkpointing.py [--batch 2] [--latent 32] [--threads 1]``. The UNet is
``UNet2DConditionModel`` with SD-1.5's configuration (860M parameters, random weights: nothing is downloaded),
frozen and in eval mode as ``kcli train encoder`` holds it; the step is what ``unet_weight`` costs: a forward
with context states that need gradients (77 x 768, as the student's), an MSE against a fixed target, and the
backward pass into the states. Each mode runs in its own process, so its peak resident memory
(``ru_maxrss``) is its own; printed is that peak minus the memory resident before the step (the weights),
the step's seconds, and ``os.getloadavg()``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SD15_UNET = {"sample_size": 64, "cross_attention_dim": 768, "attention_head_dim": 8,
             "block_out_channels": (320, 640, 1280, 1280), "layers_per_block": 2}


def resident_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def one_step(checkpointing: bool, batch: int, latent: int, threads: int) -> dict[str, float]:
    import torch
    from diffusers import UNet2DConditionModel

    from ktrain.encoder.encoding import checkpoint_unet

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**SD15_UNET).eval()
    unet.requires_grad_(False)
    if checkpointing:
        checkpoint_unet(unet)
    latents = torch.randn(batch, 4, latent, latent)
    timesteps = torch.randint(0, 1000, (batch,))
    states = torch.randn(batch, 77, 768, requires_grad=True)
    with torch.no_grad():
        target = unet(latents, timesteps, encoder_hidden_states=torch.randn(batch, 77, 768)).sample
    before = resident_mib()
    started = time.perf_counter()
    loss = torch.nn.functional.mse_loss(unet(latents, timesteps, encoder_hidden_states=states).sample, target)
    loss.backward()
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"step_mib": peak - before, "weights_mib": before, "seconds": seconds, "loss": loss.item(),
            "grad_norm": states.grad.norm().item()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--latent", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--one", choices=["on", "off"], help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_step(args.one == "on", args.batch, args.latent, args.threads)))
        return
    print(f"SD-1.5-size UNet, batch {args.batch}, {args.latent} x {args.latent} latents, {args.threads} thread(s)")
    for mode in ("off", "on", "off", "on"):  # alternated: the machine is shared
        load = os.getloadavg()[0]
        done = subprocess.run([sys.executable, __file__, "--one", mode, "--batch", str(args.batch), "--latent",
                               str(args.latent), "--threads", str(args.threads)], cwd=REPO, capture_output=True,
                              text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"checkpointing {mode:3s}: step memory {r['step_mib']:7.0f} MiB over {r['weights_mib']:.0f} MiB "
              f"resident, {r['seconds']:6.1f} s, loss {r['loss']:.6f}, grad norm {r['grad_norm']:.6e}, "
              f"load {load:.1f} -> {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
