"""NudeNet in batches: the same detections as NudeNet's own per-image calls, one model call per batch, and the
GPU provider chosen only where onnxruntime has it and the worker has a GPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from kdata.filter.safety import NudeNetScorer, load_scorer, onnx_providers
from tests.filter.images import encode, scene

SAMPLES = Path(__file__).resolve().parents[2] / "kdata" / "bundled" / "samples" / "images"
CPU, CUDA, TRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"


@pytest.mark.parametrize(
    ("available", "has_gpu", "expected"),
    [([CUDA, CPU], True, [CUDA, CPU]), ([CUDA, CPU], False, [CPU]), ([CPU], True, [CPU]),
     (["AzureExecutionProvider", CPU], True, [CPU]), ([TRT, CUDA, CPU], True, [CUDA, CPU]), ([], False, [CPU])],
)
def test_cuda_only_where_onnxruntime_has_it_and_the_worker_has_a_gpu(available: list[str], has_gpu: bool,
                                                                     expected: list[str]) -> None:
    assert onnx_providers(available, has_gpu) == expected


def _images() -> list[bytes]:
    # Three photos NudeNet finds something in (low-confidence, which is what makes them useful here), other
    # sizes and formats, and a blank one: the batch is padded to one input size and must not mix them up.
    found = [(SAMPLES / f"food-{n}.jpg").read_bytes() for n in (16, 18, 19)]
    return [found[0], encode(scene((192, 160))), found[1], encode(Image.new("RGB", (64, 96), "white")),
            encode(scene((300, 120), seed=3), "JPEG"), found[2]]


class CountingSession:
    def __init__(self, session: Any) -> None:
        self.session, self.calls = session, []

    def run(self, outputs: Any, feed: dict[str, np.ndarray]) -> Any:
        self.calls.append(next(iter(feed.values())).shape[0])
        return self.session.run(outputs, feed)

    def get_inputs(self) -> Any:
        return self.session.get_inputs()


def test_batched_detections_equal_per_image_calls() -> None:
    import nudenet

    images = _images()
    single = nudenet.NudeDetector()
    expected = [single.detect(data) for data in images]
    scorer = NudeNetScorer(device="cpu", batch_size=4)
    counting = CountingSession(scorer.session)
    scorer.session = counting
    got = scorer.detections(images)
    assert counting.calls == [4, 2]  # two model calls for six images
    assert sum(1 for found in expected if found) == 3
    assert [[(d["class"], d["box"]) for d in found] for found in got] == \
        [[(d["class"], d["box"]) for d in found] for found in expected]
    assert [[d["score"] for d in found] for found in got] == \
        [pytest.approx([d["score"] for d in found], abs=1e-4) for found in expected]


def test_scores_are_the_highest_unsafe_confidence_per_image() -> None:
    images = _images()
    scorer = load_scorer("nudenet", "", None, device="cpu", batch_size=3)
    assert scorer.providers == [CPU]  # this machine has no GPU
    scores = scorer.score(None, images)
    assert scores.dtype == np.float32 and scores.shape == (6,)
    assert [i for i, s in enumerate(scores) if s > 0] == [0, 2, 5] and scores.max() < 0.5


def test_a_nudenet_filter_asks_ray_for_a_gpu_unless_pinned_to_the_cpu() -> None:
    from kdata.filter.config import parse_filter_config
    from kdata.filter.stage import ScoreStage

    assert ScoreStage.wants_gpu(parse_filter_config({"safety": {"scorer": "nudenet"}}))
    assert not ScoreStage.wants_gpu(parse_filter_config({"safety": {"scorer": "nudenet", "device": "cpu"}}))
    assert not ScoreStage.wants_gpu(parse_filter_config({}))


@pytest.mark.parametrize(("x_pad", "y_pad", "width", "height"), [(0, 0, 320, 320), (200, 0, 600, 800),
                                                                 (0, 350, 1000, 650), (0, 0, 37, 37)])
def test_vectorised_boxes_equal_nudenets_loop(x_pad: int, y_pad: int, width: int, height: int) -> None:
    """Thousands of candidates, many overlapping and many past the image's edge (so clipping and NMS both
    matter): the same detections, scores and boxes as NudeNet's own per-box loop, to the last bit."""
    from nudenet import nudenet as module

    from kdata.filter.nudenet_boxes import detections

    rng = np.random.default_rng(width + x_pad)
    labels = getattr(module, "__labels")
    output = np.zeros((4 + len(labels), 2100), dtype=np.float32)
    output[:2] = rng.uniform(-20, 340, (2, 2100))  # centres, some outside the model's square
    output[2:4] = rng.uniform(1, 160, (2, 2100))
    output[4:] = rng.beta(0.3, 4, (len(labels), 2100))  # mostly low scores, a few hundred above 0.2
    expected = module._postprocess([output[None]], x_pad, y_pad, None, None, width, height, 320, 320)
    got = detections(output, x_pad, y_pad, width, height, 320, labels)
    assert len(expected) > 10
    assert got == expected
