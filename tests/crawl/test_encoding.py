"""Korean pages in legacy encodings decode to the right text, declared or not."""

from __future__ import annotations

import pytest

from kdata.crawl.encoding import declared_encoding, page_encoding, undeclared_encoding

KOREAN = "똠방각하가 사는 한옥 마을과 전통 찻잔"  # 똠 exists in CP949 only, not in KS X 1001 (strict EUC-KR)


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("text/html; charset=EUC-KR", b"<p>x</p>", "cp949"),
        ("text/html; charset=ks_c_5601-1987", b"<p>x</p>", "cp949"),
        ("text/html; charset=windows-949", b"<p>x</p>", "cp949"),
        ("text/html", b'<meta charset="euc-kr"><p>x</p>', "cp949"),
        ("text/html", b'<meta http-equiv="Content-Type" content="text/html; charset=euc-kr">', "cp949"),
        ("text/html; charset=utf-8", b'<meta charset="euc-kr">', "utf-8"),  # the header wins over <meta>
        ("text/html", b"\xef\xbb\xbf<meta charset=euc-kr>", "utf-8"),  # and a byte-order mark over both
        ("text/html", b"<p>x</p>", None),
    ],
)
def test_declared_encoding(content_type: str, body: bytes, expected: str | None) -> None:
    assert declared_encoding(content_type, body) == expected


def test_undeclared_korean_page_is_sniffed_as_cp949_and_decodes_exactly() -> None:
    body = f"<html><body><img alt='{KOREAN}'></body></html>".encode("cp949")
    encoding, how = page_encoding("text/html", body, scrapy_guess="cp1252")
    assert (encoding, how) == ("cp949", "sniffed")
    assert KOREAN in body.decode(encoding)
    with pytest.raises(UnicodeDecodeError):
        body.decode("euc_kr")  # why CP949: strict EUC-KR cannot decode 똠


def test_undeclared_latin1_page_is_left_to_scrapys_guess() -> None:
    body = "<p>Café crème, naïve façade, déjà vu à la carte</p>".encode("latin-1")
    assert undeclared_encoding(body) is None
    assert page_encoding("text/html", body, scrapy_guess="cp1252") == ("cp1252", "guessed")
    assert undeclared_encoding("<p>한글 UTF-8</p>".encode()) == "utf-8"
