"""The bundled Korean-English sample corpus: sentence pairs about K-contents, written for kcli.

301 pairs in seven topics (hanbok, hanok, ink painting, food, festivals, landscapes, animation and
webtoon), one JSON object per line with ``ko``, ``en`` and ``category``. They are the starting data of
the Korean text encoder's training and the corpus used by tests and ``kcli demo``.
"""

from __future__ import annotations

from kdata.bundled import bundled_path

SAMPLE_CORPUS = bundled_path("corpus/k-contents-ko-en.jsonl")
CATEGORIES = ("hanbok", "hanok", "ink_painting", "food", "festival", "landscape", "animation")
