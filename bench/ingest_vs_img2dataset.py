"""``kcli ingest urls`` against img2dataset on the same URLs served by nginx on 127.0.0.1, side by side.

    python bench/ingest_vs_img2dataset.py --img2dataset-python /path/to/venv/bin/python \
        [--images 2000] [--trials 3] [--workers 2] [--threads 16]

img2dataset lives in its own virtual environment (it needs ``pandas<3``; kcli's has pandas 3), given
by its interpreter: ``python -m venv V && V/bin/pip install img2dataset 'pandas<3'``. nginx comes from
``apt-get install -y nginx-light``; the bench writes its own config (foreground, ``127.0.0.1`` only) and
starts and stops it, so the server costs both tools alike and never bottlenecks on Python.

The images are 512 px photo-like JPEGs generated once (cached in bench/out/). Both tools store 256 px
``keep_ratio`` JPEG q95 in Parquet, in two configurations: matched (``--workers`` processes x
``--threads`` threads each) and each tool's own defaults. Trials alternate the tools so that load from
other jobs hits both alike; each prints wall-clock images/s (process start to exit, start-up included),
the CPU seconds of the tool's processes and the load average, then the ratios of the medians.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, ImageDraw, ImageFilter

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
NGINX_CONF = """daemon off;
user root;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nodelay on;
    keepalive_requests 100000;
    client_body_temp_path {work}/tmp;
    proxy_temp_path {work}/tmp;
    fastcgi_temp_path {work}/tmp;
    uwsgi_temp_path {work}/tmp;
    scgi_temp_path {work}/tmp;
    types {{ image/jpeg jpg; }}
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


def photo_like(seed: int, size: int = 512) -> bytes:
    """A 512 px JPEG with the structure of a photo (gradients, shapes, blur, sensor-like noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    waves = [rng.uniform(40, 200) + 60 * np.sin(2 * np.pi * (x * rng.uniform(0.5, 2) + y * c)) for c in (0, .3, .6)]
    image = Image.fromarray(np.clip(np.stack(waves, -1), 0, 255).astype(np.uint8), "RGB")
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


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_nginx(nginx: str, root: Path, work: Path) -> tuple[subprocess.Popen, str]:
    """nginx in the foreground with this bench's own config, serving ``root`` on a free loopback port."""
    port = free_port()
    (work / "tmp").mkdir(parents=True, exist_ok=True)
    conf = work / "nginx.conf"
    conf.write_text(NGINX_CONF.format(work=work, port=port, root=root))
    process = subprocess.Popen([nginx, "-c", str(conf), "-p", str(work)], stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 20
    while True:
        try:
            import urllib.request

            with urllib.request.urlopen(f"{base}/00000.jpg", timeout=1) as response:
                response.read()
            return process, base
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                message = process.stderr.read().decode() if process.stderr else ""
                raise SystemExit(f"nginx did not start: {message}") from None
            time.sleep(0.1)


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of the tool's processes (user + system, every process it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed:\n{done.stderr[-3000:]}")
    return seconds, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def run_img2dataset(python: str, listing: Path, out: Path,
                    parallel: tuple[int, int] | None) -> tuple[tuple[float, float], int]:
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "WANDB_MODE": "disabled", "WANDB_DISABLED": "true"}
    binary = str(Path(python).parent / "img2dataset")  # the venv's console script (the package has no __main__)
    command = [binary, "--url_list", str(listing), "--input_format", "parquet",
               "--url_col", "url", "--caption_col", "caption", "--output_format", "parquet", "--output_folder",
               str(out), "--image_size", "256", "--resize_mode", "keep_ratio", "--encode_format", "jpg",
               "--encode_quality", "95", "--number_sample_per_shard", "1000", "--enable_wandb", "False",
               "--distributor", "multiprocessing"]
    if parallel is not None:
        command += ["--processes_count", str(parallel[0]), "--thread_count", str(parallel[1])]
    times = timed(command, env)
    ok = sum(pq.read_table(p, columns=["status"]).column("status").to_pylist().count("success")
             for p in out.glob("*.parquet"))
    return times, ok


def run_kcli(listing: Path, out: Path, parallel: tuple[int, int] | None) -> tuple[tuple[float, float], int]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "kcli", "ingest", "urls", str(listing), "--out", str(out), "--caption-col",
               "caption", "--resize-mode", "keep_ratio", "--image-size", "256", "--encode-format", "jpeg",
               "--encode-quality", "95", "--shard-size", "1000", "--allow-private", "--json"]
    if parallel is not None:
        command += ["--workers", str(parallel[0]), "--threads", str(parallel[1])]
    times = timed(command, env)
    return times, int(json.loads((out / "stats.json").read_text()).get("kept", 0))


def trial(name: str, args: argparse.Namespace, listing: Path, work: Path,
          parallel: tuple[int, int] | None) -> tuple[float, float]:
    target = work / f"out-{name}"
    shutil.rmtree(target, ignore_errors=True)
    if name == "kcli":
        (seconds, cpu), ok = run_kcli(listing, target, parallel)
    else:
        (seconds, cpu), ok = run_img2dataset(args.img2dataset_python, listing, target, parallel)
    if ok != args.images:
        raise SystemExit(f"{name} stored {ok} of {args.images} images")
    rate = ok / seconds
    load = os.getloadavg()
    # CPU seconds drift less than wall seconds when other jobs load the machine: a second view of the ratio.
    print(f"    {name:12s} {ok} images in {seconds:6.2f} s = {rate:7.1f} img/s, {cpu:6.2f} CPU-s   "
          f"(load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})", flush=True)
    return rate, cpu


def compare(label: str, args: argparse.Namespace, listing: Path, work: Path,
            parallel: tuple[int, int] | None) -> float:
    print(f"  {label}:", flush=True)
    rates: dict[str, list[float]] = {"kcli": [], "img2dataset": []}
    cpus: dict[str, list[float]] = {"kcli": [], "img2dataset": []}
    for index in range(args.trials):
        order = ("kcli", "img2dataset") if index % 2 == 0 else ("img2dataset", "kcli")  # alternate who goes first
        for name in order:
            rate, cpu = trial(name, args, listing, work, parallel)
            rates[name].append(rate)
            cpus[name].append(cpu)
    kcli, peer = statistics.median(rates["kcli"]), statistics.median(rates["img2dataset"])
    kcli_cpu, peer_cpu = statistics.median(cpus["kcli"]), statistics.median(cpus["img2dataset"])
    print(f"    median: kcli {kcli:.1f} img/s, img2dataset {peer:.1f} img/s -> kcli / img2dataset = {kcli / peer:.2f}x"
          f"; CPU-s kcli {kcli_cpu:.2f}, img2dataset {peer_cpu:.2f} -> {peer_cpu / kcli_cpu:.2f}x less")
    return kcli / peer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--img2dataset-python", required=True, help="python of a venv with img2dataset installed")
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="processes, both tools, in the matched runs")
    parser.add_argument("--threads", type=int, default=16, help="threads per process, both tools, matched runs")
    parser.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    args = parser.parse_args()
    folder = ensure_images(args.images)
    work = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    server, base = start_nginx(args.nginx, folder, work)
    try:
        listing = work / "urls.parquet"
        names = [f"{i:05d}.jpg" for i in range(args.images)]
        pq.write_table(pa.table({"url": [f"{base}/{n}" for n in names], "caption": [f"image {n}" for n in names]}),
                       listing)
        print(f"{args.images} x 512 px JPEG URLs from nginx on 127.0.0.1 -> 256 px keep_ratio, JPEG q95, Parquet; "
              f"{os.cpu_count()} cores, {args.trials} alternating trials each", flush=True)
        matched = compare(f"matched: {args.workers} processes x {args.threads} threads", args, listing, work,
                          (args.workers, args.threads))
        defaults = compare("each tool's defaults", args, listing, work, None)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()
    print(f"kcli / img2dataset: {matched:.2f}x matched, {defaults:.2f}x at defaults "
          f"(load at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; quote ratios taken at load < 2)")


if __name__ == "__main__":
    main()
