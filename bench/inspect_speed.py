"""``kcli inspect`` against duckdb on the same shards of a generated 1,000,000-row image manifest.

Run: ``PYTHONPATH=. .venv/bin/python bench/inspect_speed.py [--rows 1000000] [--shards 100] [--trials 3]``
(duckdb comes with the dev extra). The manifest is built once and kept under ``KCLI_BENCH_DIR`` (default the
system temp folder). Each trial runs, alternating, ``kcli inspect --json`` and a duckdb query computing
the status/reason funnel, every column's null count and min/median/max of the numeric columns, each in a
fresh child process (interpreter start and imports included on both sides); the peak RSS of each child is
its own (``os.wait4``), not the largest of all children. The load average is printed with every result:
compare ratios taken at load < 2.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inspect_data import build_in_child  # noqa: E402 - the bench folder is not a package

REPO = Path(__file__).resolve().parents[1]
NUMERIC = ("int", "float", "double", "bool")
TARGET_RATIO, TARGET_MIB = 1.5, 1024


def duckdb_query(manifest: Path) -> str:
    """The statistics kcli inspect reports, as one duckdb script over the shards."""
    files = f"read_parquet('{manifest / 'data' / '*.parquet'}')"
    schema = pq.read_schema(next((manifest / "data").glob("*.parquet")))
    nulls = ", ".join(f'count(*) - count("{f.name}")' for f in schema)
    numeric = [f.name for f in schema if str(f.type).startswith(NUMERIC)]
    stats = ", ".join(f'min("{n}"), quantile_cont("{n}", 0.5), max("{n}")' for n in numeric)
    funnel = f"select status, coalesce(reason, ''), count(*) from {files} group by all"
    return (f"import duckdb\nprint(duckdb.sql(\"{funnel}\").fetchall())\n"
            f"print(duckdb.sql('''select {nulls}, {stats} from {files}''').fetchall())\n")


def timed_child(command: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB) of one child process, from its own
    rusage. CPU seconds move less with the load of a shared machine than wall seconds do."""
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        sys.exit(f"{command[:4]} failed: {child.stderr.read().decode()[-2000:]}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=100)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    manifest = build_in_child(args.rows, args.shards)
    sides = {"kcli": [sys.executable, "-m", "kcli", "inspect", str(manifest), "--json"],
             "duckdb": [sys.executable, "-c", duckdb_query(manifest)]}
    print(f"manifest: {args.rows:,} rows in {args.shards} shards at {manifest}")
    best: dict[str, tuple[float, float, float]] = {}
    for trial in range(args.trials):
        for name in (("kcli", "duckdb") if trial % 2 == 0 else ("duckdb", "kcli")):
            seconds, cpu, peak = timed_child(sides[name])
            load = os.getloadavg()[0]
            print(f"trial {trial + 1} {name:6s} {seconds:6.2f} s wall  {cpu:6.2f} s CPU  peak RSS {peak:7,.0f} MiB  "
                  f"load {load:.2f}")
            if name not in best or seconds < best[name][0]:
                best[name] = (seconds, cpu, peak)
    (kcli_s, kcli_cpu, peak), (duck_s, duck_cpu, _) = best["kcli"], best["duckdb"]
    print(f"best: kcli {kcli_s:.2f} s, duckdb {duck_s:.2f} s, ratio {kcli_s / duck_s:.2f}x wall "
          f"(target <= {TARGET_RATIO}x), {kcli_cpu / duck_cpu:.2f}x CPU; kcli peak RSS {peak:,.0f} MiB "
          f"(target < {TARGET_MIB} MiB); load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
