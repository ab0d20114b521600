"""The fixture site: the static files under ``site/`` plus what is better made in code — the images, the
EUC-KR pages (as CP949 bytes), a page whose Hangul is decomposed (NFD), and the sitemap (absolute URLs)."""

from __future__ import annotations

import io
import shutil
import unicodedata
from pathlib import Path

from PIL import Image

SITE = Path(__file__).parent / "site"

IMAGES = [
    "img/hanbok.jpg", "img/hanok-480.jpg", "img/hanok-960.jpg", "img/tea.jpg", "img/tea@2x.jpg", "img/og.jpg",
    "img/lazy-1.jpg", "img/lazy-2-320.jpg", "img/lazy-2-640.jpg", "img/lazy-3.jpg", "img/js-1.jpg", "img/js-2.jpg",
    *[f"img/scroll-{i}.jpg" for i in range(7)], "img/noai-meta.jpg", "img/kcli-meta.jpg", "img/noai-header.jpg",
    "img/after-noai.jpg", "img/euc-header.jpg", "img/euc-meta.jpg", "img/euc-bare.jpg", "img/orphan.jpg",
    "img/hidden.jpg", "img/no-kcli.jpg", "private/p.jpg", "private/secret.jpg",
]
PNG_IMAGES = ["img/optout.png"]

EUC_KR_PAGE = """<!DOCTYPE html>
<html lang="ko">
<head>{head}<title>{title}</title></head>
<body>
  <h1>{heading}</h1>
  <p>{before}</p>
  <figure><img src="../img/{image}" alt="{alt}"><figcaption>{caption}</figcaption></figure>
  <p>{after}</p>
</body>
</html>
"""
# (file, <head> declaration, title, heading, text before, image, alt, caption, text after)
EUC_KR_PAGES = [
    ("header.html", "", "한옥 사진첩", "북촌 한옥", "골목을 따라 걷다 보면", "euc-header.jpg", "똠방각하가 사는 한옥",
     "서울 북촌의 한옥 마을", "기와가 아름답다."),
    ("meta.html", '<meta http-equiv="Content-Type" content="text/html; charset=euc-kr">', "차 이야기",
     "녹차", "보성에서 온 차를", "euc-meta.jpg", "전통 찻잔", "녹차 한 잔", "천천히 마신다."),
    ("bare.html", "", "한지 공예", "전주 한지", "닥나무 껍질로 만든 종이로", "euc-bare.jpg", "한지 공예품",
     "전주 한지로 만든 등", "빛이 은은하다."),
]
ORPHAN_ALT = "사진 속 풍경"  # written decomposed (NFD) into the page; the crawl must store it composed (NFC)


def jpeg(color: tuple[int, int, int], size: tuple[int, int] = (24, 16), fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


def build_site(target: Path) -> Path:
    """Copy the static site to ``target`` and add the generated files; return ``target``."""
    shutil.copytree(SITE, target)
    for index, name in enumerate(IMAGES + PNG_IMAGES):
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        color = ((index * 37) % 256, (index * 91) % 256, (index * 53) % 256)
        path.write_bytes(jpeg(color, fmt="PNG" if name.endswith(".png") else "JPEG"))
    for name, head, title, heading, before, image, alt, caption, after in EUC_KR_PAGES:
        html = EUC_KR_PAGE.format(head=head, title=title, heading=heading, before=before, image=image, alt=alt,
                                  caption=caption, after=after)
        (target / "euc-kr").mkdir(exist_ok=True)
        (target / "euc-kr" / name).write_bytes(html.encode("cp949"))
    orphan = (f'<!DOCTYPE html><html lang="ko"><head><meta charset="utf-8"><title>고아 페이지</title></head>'
              f'<body><img src="img/orphan.jpg" alt="{unicodedata.normalize("NFD", ORPHAN_ALT)}"></body></html>')
    (target / "orphan.html").write_text(orphan, encoding="utf-8")
    return target


def write_sitemap(site: Path, base: str) -> None:
    urls = "".join(f"<url><loc>{base}/{page}</loc></url>" for page in ("", "orphan.html"))
    (site / "sitemap.xml").write_text('<?xml version="1.0" encoding="UTF-8"?>\n<urlset '
                                      f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>\n',
                                      encoding="utf-8")
