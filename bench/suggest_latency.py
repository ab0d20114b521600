"""``kcli serve --prompt-index``: how long a suggestion takes, from the page's request to its answer.

    PYTHONPATH=. python bench/suggest_latency.py --rows 2000 --queries 200 [--model hf:tiny-clip]

Builds a prompt index of ``--rows`` synthetic Korean and English prompts (``kcli index build``'s library call,
the embedder given), serves it with the demo's app (a stand-in engine: no image is rendered) on loopback,
then sends ``--queries`` suggestion requests the way the page does as a person types (each a growing prefix
of a Korean prompt) and prints p50/p95 of the HTTP round trip, of the embedding and of the vector search, with
the load average. ``hf:tiny-clip`` measures the path's overhead; a real text tower (e.g. a Korean CLIP) adds
its own encode time, which the ``embed`` column shows. On a shared machine quote only results at load < 2.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

SUBJECTS = ["한옥 마을", "한복 입은 여인", "소나무", "비빔밥", "고양이", "a hanok village", "a cat", "a pine tree",
            "a bowl of bibimbap", "a woman in hanbok"]
STYLES = ["수묵화", "유화", "사진", "ink painting", "oil painting", "photo, highly detailed", "neon lights"]


class _Engine:
    lora_names: list[str] = []
    native_size, size_multiple = 64, 8

    def describe(self) -> dict[str, Any]:
        return {"base": "none", "text_encoder": "none", "device": "cpu"}

    def generate(self, job: Any) -> Any:
        raise RuntimeError("the bench renders nothing")


def _corpus(rows: int, path: Path) -> Path:
    lines = [{"image_name": f"img-{i}", "prompt": f"{SUBJECTS[i % len(SUBJECTS)]}, {STYLES[(i // 7) % len(STYLES)]}, "
              f"#{i}"} for i in range(rows)]
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    return path


def _pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--model", default="hf:tiny-clip")
    args = parser.parse_args()
    from kdata.index import IndexConfig, build_index
    from ktrain.t2i.serve.app import create_app
    from ktrain.t2i.serve.limits import ServeLimits
    from ktrain.t2i.serve.server import ServerThread
    from ktrain.t2i.serve.suggest import PromptSuggester

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        index = build_index(_corpus(args.rows, Path(tmp) / "p.jsonl"), Path(tmp) / "idx", IndexConfig(model=args.model))
        print(f"index: {index.rows} rows, {index.engine}, built in {time.perf_counter() - started:.1f} s")
        server = ServerThread(create_app(_Engine(), ServeLimits(), PromptSuggester.open(index.path))).start()
        typed = "눈 덮인 한옥 마을에 핀 매화, 수묵화"
        round_trip, embed, search = [], [], []
        try:
            for i in range(args.queries):
                query = typed[: 1 + i % len(typed)]
                begun = time.perf_counter()
                url = f"{server.url}api/suggest?q={urllib.parse.quote(query)}&k=5"
                with urllib.request.urlopen(url, timeout=60) as response:
                    answer = json.loads(response.read())
                round_trip.append((time.perf_counter() - begun) * 1000)
                embed.append(answer["embed_ms"])
                search.append(answer["search_ms"])
        finally:
            server.stop()
    load = os.getloadavg()
    for name, values in (("round trip", round_trip), ("embed", embed), ("search", search)):
        print(f"{name:>10}: p50 {statistics.median(values):7.2f} ms  p95 {_pct(values, 0.95):7.2f} ms")
    print(f"rows {args.rows}, queries {args.queries}, model {args.model}, load " + " ".join(f"{x:.2f}" for x in load))


if __name__ == "__main__":
    main()
