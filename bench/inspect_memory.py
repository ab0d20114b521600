"""Peak memory of ``kcli inspect`` on a generated 1,000,000-row image manifest (target: under 1 GiB).

Run: ``PYTHONPATH=. .venv/bin/python bench/inspect_memory.py [--rows 1000000] [--shards 100]``. The manifest
is built once and kept under ``KCLI_BENCH_DIR`` (see bench/inspect_data.py); ``kcli inspect --json`` then
runs in a fresh child process whose own peak RSS is read with ``os.wait4``. The manifest is built in another
child: a child inherits its parent's peak RSS as the floor of its own, so building it here would inflate the
figure (the build's peak, near 600 MiB, was once reported as inspect's).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inspect_data import build_in_child  # noqa: E402 - the bench folder is not a package
from inspect_speed import TARGET_MIB, timed_child  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=100)
    args = parser.parse_args()
    manifest = build_in_child(args.rows, args.shards)
    seconds, _, peak_mib = timed_child([sys.executable, "-m", "kcli", "inspect", str(manifest), "--json"])
    print(f"manifest: {args.rows:,} rows in {args.shards} shards at {manifest}")
    print(f"kcli inspect: {seconds:.1f}s wall, peak RSS {peak_mib:,.0f} MiB "
          f"({'under' if peak_mib < TARGET_MIB else 'OVER'} the 1 GiB target); load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
