"""NudeNet's detector over batches of images, with its post-processing vectorised.

NudeNet 3.4 turns each image's 2,100 candidate boxes into detections in a Python loop (an ``np.amax`` and a
few float operations per box): about a sixth of a CPU run's time per image. Here the same arithmetic runs on
all candidates of an image at once, in the same float32 order, followed by the same ``cv2.dnn.NMSBoxes``
call; the preprocessing is NudeNet's own ``_read_image``. The detections equal NudeNet's ``detect``
(tests/filter/test_safety_batch.py checks classes and boxes exactly).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# nudenet 3.4's _postprocess: candidates from this class score, then non-maximum suppression with these.
CANDIDATE_SCORE, NMS_SCORE, NMS_IOU = 0.2, 0.25, 0.45


def detect_batch(session: Any, images: Sequence[bytes], batch_size: int, side: int) -> list[list[dict[str, Any]]]:
    """Each image's detections (``class``, ``score``, ``box`` as NudeNet gives them), one ``session.run`` per
    ``batch_size`` images."""
    from nudenet import nudenet as module

    labels = getattr(module, "__labels")  # NudeNet's class names, in its model's output order
    input_name = session.get_inputs()[0].name
    found: list[list[dict[str, Any]]] = []
    for start in range(0, len(images), batch_size):
        prepared = [module._read_image(bytes(data), side) for data in images[start:start + batch_size]]
        outputs = session.run(None, {input_name: np.vstack([p[0] for p in prepared])})[0]
        found += [detections(outputs[index], p[3], p[4], p[5], p[6], side, labels)
                  for index, p in enumerate(prepared)]
    return found


def detections(output: np.ndarray, x_pad: int, y_pad: int, width: int, height: int, side: int,
               labels: Sequence[str]) -> list[dict[str, Any]]:
    """One image's model output (``4 + classes`` rows by candidate boxes) as NudeNet's ``_postprocess`` makes
    it: boxes from centre to corner, scaled back to the padded original, clipped to the image, then NMS."""
    import cv2

    candidates = np.transpose(output)
    class_scores = candidates[:, 4:]
    best = class_scores.max(axis=1)
    kept = np.flatnonzero(best >= CANDIDATE_SCORE)
    if kept.size == 0:
        return []
    class_ids, scores = class_scores[kept].argmax(axis=1), best[kept]
    x, y, w, h = (candidates[kept, i] for i in range(4))
    x, y = x - w / 2, y - h / 2
    # The same operations in the same order as NudeNet's loop (float32 throughout), so the boxes, and the
    # boxes NMS keeps, are the same to the last bit.
    x = x * (width + x_pad) / side
    y = y * (height + y_pad) / side
    w = w * (width + x_pad) / side
    h = h * (height + y_pad) / side
    x = np.maximum(0, np.minimum(x, width))
    y = np.maximum(0, np.minimum(y, height))
    w = np.minimum(w, width - x)
    h = np.minimum(h, height - y)
    boxes = np.stack([x, y, w, h], axis=1)
    chosen = cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), NMS_SCORE, NMS_IOU)
    return [{"class": labels[class_ids[i]], "score": float(scores[i]), "box": [int(v) for v in boxes[i]]}
            for i in np.asarray(chosen, dtype=np.int64).reshape(-1)]
