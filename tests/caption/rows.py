"""Image rows built in code with the columns the ink-painting ingest mapping produces."""

from __future__ import annotations

import io
from typing import Any

from kdata.schema import Status

INK_COLUMNS = ("paper_type", "method", "paper_type_en", "method_en", "caption_ko", "caption_en", "alt_text", "category")


def png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "PNG")
    return buffer.getvalue()


def image_row(key: str, width: int = 40, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys((*INK_COLUMNS, "reason"))  # from_pylist takes columns from row one
    row.update(key=key, image_bytes=png(width, 32, (width * 3 % 256, 90, 160)), status=Status.OK)
    row.update(values)
    return row


def ink_rows() -> list[dict[str, Any]]:
    """Six rows covering every path of the ink-painting config, plus one rejected by an earlier stage."""
    return [
        image_row("ink-1", paper_type="화선지", method="백묘법", paper_type_en="hwaseonji (xuan paper)",
                  method_en="baekmyo (ink outline drawing)", caption_ko="대나무를 그린 수묵화",
                  caption_en="a Korean ink painting of bamboo", alt_text="화선지에 백묘법으로 그린 대나무",
                  category="ink_painting"),
        image_row("ink-2", paper_type="순지", method="몰골법", paper_type_en="sunji (pure mulberry hanji)",
                  method_en="molgol (boneless, without outlines)", alt_text="IMG_0042.JPG", category="ink_painting"),
        image_row("food-1", caption_en="a bowl of bibimbap", alt_text="&lt;b&gt;비빔밥&lt;/b&gt; 사진",
                  category="food"),
        image_row("hanok-1", alt_text="Photo of a hanok with a tiled roof", category="hanok"),
        image_row("broken-1", image_bytes=b"\xff\xd8\xff\xe0 not really a jpeg", category="hanok"),
        image_row("blurry-1", status=Status.REJECTED, reason="blurry", alt_text="흐린 사진 속 한옥", category="hanok"),
    ]

