"""Draw the bundled demo images (synthetic, CC0) and their sidecar metadata, deterministically.

Run from the repository root: ``python scripts/make_samples.py``. The output under
``kdata/bundled/samples/images/`` is committed; this script documents how it was made.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

OUT = Path("kdata/bundled/samples/images")

HANBOK = [("저고리", "jeogori"), ("치마", "chima"), ("두루마기", "durumagi"), ("배자", "baeja")]
PAPERS = ["화선지", "순지"]
METHODS = ["백묘법", "구륵법", "몰골법"]


def hanbok(rng: random.Random, i: int) -> tuple[Image.Image, dict]:
    img = Image.new("RGB", (256, 320), tuple(rng.randint(200, 250) for _ in range(3)))
    d = ImageDraw.Draw(img)
    top = tuple(rng.randint(30, 240) for _ in range(3))
    skirt = tuple(rng.randint(30, 240) for _ in range(3))
    d.ellipse((103, 30, 153, 80), fill=(235, 205, 180))
    d.polygon([(88, 85), (168, 85), (180, 150), (76, 150)], fill=top)
    d.polygon([(76, 150), (180, 150), (230, 300), (26, 300)], fill=skirt)
    d.line([(128, 90), (150, 140)], fill=(200, 30, 40), width=4)
    name_ko, name_en = HANBOK[i % len(HANBOK)]
    return img, {
        "category": "hanbok",
        "title": f"한복 {name_ko} 일러스트 {i + 1}",
        "alt_text": f"{name_ko}를 입은 여인의 그림",
        "caption_en": f"an illustration of a woman wearing a hanbok {name_en}",
    }


def ink_painting(rng: random.Random, i: int) -> tuple[Image.Image, dict]:
    paper = (246, 243, 236)
    img = Image.new("L", (320, 240), paper[0])
    d = ImageDraw.Draw(img)
    x = rng.randint(60, 120)
    for k in range(6):  # bamboo stalk segments and leaves: a few dark strokes on mostly blank paper
        y0 = 220 - k * 34
        d.line([(x, y0), (x + 3, y0 - 30)], fill=rng.randint(20, 80), width=6)
        d.line([(x + 3, y0 - 30), (x + 40 + rng.randint(0, 30), y0 - 50)], fill=rng.randint(30, 110), width=3)
    img = img.filter(ImageFilter.GaussianBlur(0.8)).convert("RGB")
    paper_type, method = PAPERS[i % 2], METHODS[i % 3]
    return img, {
        "category": "ink_painting",
        "title": f"대나무 수묵화 {i + 1}",
        "alt_text": f"{paper_type}에 {method}으로 그린 대나무",
        "caption_en": "a Korean ink painting of bamboo",
        # Nested like public archive annotations; the ingest mapping flattens it to columns.
        "annotation": {"paper": {"type": paper_type}, "technique": {"method": method}},
    }


def hanok(rng: random.Random, i: int) -> tuple[Image.Image, dict]:
    img = Image.new("RGB", (384, 256), (150 + rng.randint(0, 60), 190, 230))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 200, 384, 256), fill=(120, 100, 70))
    d.rectangle((90, 130, 294, 200), fill=(220, 200, 160))
    d.polygon([(50, 140), (192, 70), (334, 140), (300, 125), (192, 90), (84, 125)], fill=(60, 60, 70))
    for k in range(4):
        d.rectangle((110 + k * 46, 150, 140 + k * 46, 195), fill=(180, 140, 90))
    return img, {
        "category": "hanok",
        "title": f"한옥 {i + 1}",
        "alt_text": "기와지붕이 있는 한옥",
        "caption_en": "a traditional Korean house with a tiled roof",
    }


def food(rng: random.Random, i: int) -> tuple[Image.Image, dict]:
    img = Image.new("RGB", (256, 256), (90, 60, 40))
    d = ImageDraw.Draw(img)
    d.ellipse((28, 28, 228, 228), fill=(240, 240, 235))
    d.ellipse((58, 58, 198, 198), fill=(250, 250, 245))
    for _ in range(40):
        x, y = rng.randint(70, 180), rng.randint(70, 180)
        color = rng.choice([(200, 40, 30), (60, 150, 60), (240, 200, 60), (140, 80, 40)])
        d.ellipse((x, y, x + 12, y + 12), fill=color)
    return img, {
        "category": "food",
        "title": f"비빔밥 {i + 1}",
        "alt_text": "그릇에 담긴 비빔밥",
        "caption_en": "a bowl of bibimbap",
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20261125)
    makers = [hanbok] * 6 + [ink_painting] * 6 + [hanok] * 4 + [food] * 4
    for index, make in enumerate(makers):
        img, meta = make(rng, index)
        stem = f"{meta['category']}-{index:02d}"
        img.save(OUT / f"{stem}.jpg", quality=88)
        meta.update({"source": "kcli-samples", "license": "CC0-1.0"})
        (OUT / f"{stem}.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    # A near duplicate (smaller re-encode of the first hanbok) and a blurred copy, for dedup/quality demos.
    first = Image.open(OUT / "hanbok-00.jpg")
    first.resize((192, 240)).save(OUT / "hanbok-00-small.jpg", quality=75)
    meta = json.loads((OUT / "hanbok-00.json").read_text(encoding="utf-8"))
    (OUT / "hanbok-00-small.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    blurred = Image.open(OUT / "hanok-12.jpg").filter(ImageFilter.GaussianBlur(6))
    blurred.save(OUT / "hanok-12-blurred.jpg", quality=88)
    meta = json.loads((OUT / "hanok-12.json").read_text(encoding="utf-8"))
    (OUT / "hanok-12-blurred.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
