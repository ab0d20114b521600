"""``kcli ingest urls`` against img2dataset on the same 2,000 URLs served from 127.0.0.1, side by side.

Run: ``.venv/bin/python bench/ingest_vs_img2dataset.py [--images 2000] [--workers 2] [--threads 16]``.

One command does everything: creates img2dataset's own virtual environment under bench/out/ (it needs
``pandas<3``, unlike kcli), generates 512 px photo-like JPEGs (cached in bench/out/), serves them from a
separate process on 127.0.0.1 (HTTP/1.1), then runs both tools with the same settings (256 px,
keep_ratio, JPEG quality 95, Parquet output, the same processes x threads) and prints wall-clock
images/s for each (process start to exit, start-up included) and the ratio.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, ImageDraw, ImageFilter

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
VENV = OUT / "img2dataset-venv"
IMG2DATASET = ("img2dataset==1.47.0", "pandas<3")


def ensure_img2dataset_venv() -> Path:
    """img2dataset in its own venv (kcli's has pandas 3, which img2dataset 1.47 does not support)."""
    stamp = VENV / ".installed"
    if stamp.exists() and stamp.read_text() == " ".join(IMG2DATASET):
        return VENV / "bin" / "img2dataset"
    print(f"creating {VENV} with {' '.join(IMG2DATASET)} (once)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", *IMG2DATASET], check=True)
    stamp.write_text(" ".join(IMG2DATASET))
    return VENV / "bin" / "img2dataset"


def photo_like(seed: int, size: int = 512) -> bytes:
    """A 512 px JPEG with the structure of a photo (gradients, shapes, blur, sensor-like noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    waves = [rng.uniform(40, 200) + 60 * np.sin(2 * np.pi * (x * rng.uniform(0.5, 2) + y * c)) for c in (0, .3, .6)]
    base = np.stack(waves, -1)
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = rng.integers(0, size, 2)
        w, h = rng.integers(20, size // 2, 2)
        draw.ellipse([x0, y0, x0 + w, y0 + h], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    image = image.filter(ImageFilter.GaussianBlur(1.5))
    noisy = np.asarray(image, dtype=np.float32) + rng.normal(0, 3, (size, size, 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def ensure_images(count: int) -> Path:
    folder = OUT / "ingest-images"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        target = folder / f"{i:05d}.jpg"
        if not target.exists():
            target.write_bytes(photo_like(i))
    return folder


def serve(folder: Path, port_file: Path) -> None:
    """Serve ``folder`` from memory on 127.0.0.1 until killed (runs in its own process)."""
    files = {f"/{p.name}": p.read_bytes() for p in folder.glob("*.jpg")}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # TCP_NODELAY, as production web servers set it: without it, Nagle's algorithm and the client's
        # delayed ACK stall every response's last segment by ~40 ms, and both tools measure that stall.
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 1024
    port_file.write_text(str(server.server_address[1]))
    server.serve_forever()


def start_server(folder: Path) -> tuple[subprocess.Popen, str]:
    port_file = OUT / "ingest-server.port"
    port_file.unlink(missing_ok=True)
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(folder), str(port_file)])
    deadline = time.time() + 60
    while not port_file.exists() or not port_file.read_text():
        if time.time() > deadline or process.poll() is not None:
            raise SystemExit("the image server did not start")
        time.sleep(0.05)
    return process, f"http://127.0.0.1:{port_file.read_text()}"


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock seconds and CPU seconds (user + system, the tool's whole process tree) of a command."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed:\n{done.stderr[-3000:]}")
    return seconds, _children_cpu() - cpu_before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # waited-for descendants: the server is still running
    return usage.ru_utime + usage.ru_stime


def run_img2dataset(binary: Path, listing: Path, out: Path, workers: int, threads: int) -> tuple[float, float, int]:
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "WANDB_MODE": "disabled", "WANDB_DISABLED": "true"}
    command = [str(binary), "--url_list", str(listing), "--input_format", "parquet", "--url_col", "url",
               "--caption_col", "caption", "--output_format", "parquet", "--output_folder", str(out),
               "--processes_count", str(workers), "--thread_count", str(threads), "--image_size", "256",
               "--resize_mode", "keep_ratio", "--encode_format", "jpg", "--encode_quality", "95",
               "--number_sample_per_shard", "1000", "--enable_wandb", "False", "--distributor", "multiprocessing"]
    seconds, cpu = timed(command, env)
    ok = sum(pq.read_table(p, columns=["status"]).column("status").to_pylist().count("success")
             for p in out.glob("*.parquet"))
    return seconds, cpu, ok


def run_kcli(listing: Path, out: Path, workers: int, threads: int) -> tuple[float, float, int]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "kcli", "ingest", "urls", str(listing), "--out", str(out), "--caption-col",
               "caption", "--workers", str(workers), "--threads", str(threads), "--resize-mode", "keep_ratio",
               "--image-size", "256", "--encode-format", "jpeg", "--encode-quality", "95", "--shard-size", "1000",
               "--allow-private", "--json"]
    seconds, cpu = timed(command, env)
    stats = json.loads((out / "stats.json").read_text())
    return seconds, cpu, int(stats.get("kept", 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    binary = ensure_img2dataset_venv()
    folder = ensure_images(args.images)
    server, base = start_server(folder)
    try:
        listing = OUT / "ingest-urls.parquet"
        names = [f"{i:05d}.jpg" for i in range(args.images)]
        pq.write_table(pa.table({"url": [f"{base}/{n}" for n in names], "caption": [f"image {n}" for n in names]}),
                       listing)
        results = {}
        for name, runner in (("img2dataset", lambda o: run_img2dataset(binary, listing, o, args.workers, args.threads)),
                             ("kcli", lambda o: run_kcli(listing, o, args.workers, args.threads))):
            target = OUT / f"ingest-{name}"
            shutil.rmtree(target, ignore_errors=True)
            results[name] = runner(target)
    finally:
        server.kill()
        server.wait()
    print(f"{args.images} URLs from 127.0.0.1, 256 px keep_ratio, JPEG q95, Parquet, "
          f"{args.workers} processes x {args.threads} threads")
    for name, (seconds, cpu, ok) in results.items():
        print(f"  {name:12s} {ok:5d} images in {seconds:6.2f} s wall-clock = {ok / seconds:7.1f} images/s "
              f"({cpu:5.1f} CPU-s, {1000 * cpu / max(ok, 1):.1f} CPU-ms per image)")
    (k_wall, k_cpu, k_ok), (i_wall, i_cpu, i_ok) = results["kcli"], results["img2dataset"]
    print(f"  kcli / img2dataset: {(k_ok / k_wall) / (i_ok / i_wall):.2f}x images/s wall-clock, "
          f"{(i_cpu / i_ok) / (k_cpu / k_ok):.2f}x less CPU per image")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        main()
