"""Decode/resize/re-encode: img2dataset's resize modes, draft-mode JPEG shrinking, odd modes, pHash."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from kdata.ingest.imaging import ImageOptions, ImageRejected, process_image
from kdata.ingest.phash import _dct_matrix, hamming, phash
from tests.ingest import images


def _open(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


@pytest.mark.parametrize(("mode", "size"), [
    ("keep_ratio", (48, 32)), ("keep_ratio_largest", (32, 21)), ("center_crop", (32, 32)), ("border", (32, 32)),
])
def test_resize_modes_match_img2dataset(mode: str, size: tuple[int, int]) -> None:
    result = process_image(images.jpeg(96, 64), ImageOptions(resize_mode=mode, image_size=32))
    assert (result.width, result.height) == size == _open(result.data).size
    assert (result.original_width, result.original_height, result.format) == (96, 64, "JPEG")


def test_border_pads_with_black_and_no_keeps_the_original_bytes() -> None:
    options = ImageOptions("border", 32, encode_format="png")  # lossless, so the border is exactly black
    bordered = np.asarray(_open(process_image(images.jpeg(96, 64), options).data))
    assert bordered[:5].max() == 0 == bordered[-6:].max() and bordered[5:26].mean() > 40  # 32x21 picture, centred
    original = images.jpeg(96, 64)
    assert process_image(original, ImageOptions()).data == original


def test_resize_only_if_bigger_never_upscales() -> None:
    result = process_image(images.jpeg(96, 64), ImageOptions("keep_ratio", 200, resize_only_if_bigger=True))
    assert (result.width, result.height) == (96, 64)
    assert (process_image(images.jpeg(96, 64), ImageOptions("keep_ratio", 200)).width) == 300


def test_jpeg_shrinking_uses_draft_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = JpegImagePlugin.JpegImageFile.draft

    def spy(self: Image.Image, mode: str | None, size: tuple[int, int] | None) -> object:
        calls.append((mode, size))
        return real(self, mode, size)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    result = process_image(images.jpeg(512, 512), ImageOptions("keep_ratio", 128, encode_format="jpeg"))
    assert calls == [("RGB", (128, 128))] and (result.width, result.height) == (128, 128)


def test_exif_orientation_is_applied_before_resizing() -> None:
    result = process_image(images.rotated_jpeg(), ImageOptions("keep_ratio", 32))
    assert (result.original_width, result.original_height) == (64, 96)
    assert (result.width, result.height) == (32, 48) == _open(result.data).size


def test_odd_modes_are_converted_when_re_encoding() -> None:
    cmyk = process_image(images.cmyk_jpeg(), ImageOptions("keep_ratio", 32))
    assert (cmyk.mode, cmyk.format, _open(cmyk.data).mode) == ("CMYK", "JPEG", "RGB")
    deep = process_image(images.png_16bit(), ImageOptions("keep_ratio", 20, encode_format="png"))
    assert deep.mode == "I;16" and _open(deep.data).mode == "L"
    assert _open(deep.data).getextrema()[1] > 200  # scaled from 16 bits, not clipped to white
    alpha = process_image(images.palette_alpha_png(), ImageOptions("keep_ratio", 32))
    assert (alpha.format, _open(alpha.data).mode) == ("PNG", "RGBA")
    flat = process_image(images.palette_alpha_png(), ImageOptions("keep_ratio", 32, encode_format="jpeg"))
    assert _open(flat.data).mode == "RGB"
    gif = process_image(images.animated_gif(), ImageOptions("keep_ratio", 32))
    assert (gif.frames, gif.format, _open(gif.data).format) == (3, "PNG", "PNG")  # first frame, as PNG


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "empty"), (images.HTML, "not_an_image:html"), (images.SVG, "unsupported:svg"),
    (b"\x00\x01garbage", "not_an_image:unknown"), (images.bomb_png(), "decompression_bomb"),
    (images.truncated_jpeg(), "undecodable:truncated"),
])
def test_bad_bytes_are_rejected_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ImageRejected) as caught:
        process_image(data, ImageOptions("keep_ratio", 32))
    assert caught.value.reason == reason


def test_phash_survives_resizing_and_tells_pictures_apart() -> None:
    big, other = images.picture(256, 192, seed=1), images.picture(256, 192, seed=2)
    small = big.resize((128, 96), Image.Resampling.BICUBIC)
    assert hamming(phash(big), phash(small)) <= 4
    assert hamming(phash(big), phash(other)) >= 16
    assert len(phash(big)) == 16 and phash(big) == phash(big.copy())


@pytest.mark.parametrize("hash_size", [8, 3, 16])
def test_phash_bits_are_the_textbook_definition(hash_size: int) -> None:
    """The full DCT of the thumbnail, its low block, each bit set above np.median (hashes stored by earlier
    versions stay comparable); an odd count of low coefficients has a middle value of its own."""
    rng = np.random.default_rng(hash_size)
    pictures = [images.picture(96, 64, seed=s) for s in range(6)]
    pictures += [Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)), Image.new("L", (40, 40), 7)]
    for picture in pictures:
        size = hash_size * 4
        grey = picture.convert("L").resize((size, size), Image.Resampling.LANCZOS, reducing_gap=2.0)
        basis = _dct_matrix(size)
        low = (basis @ np.asarray(grey, dtype=np.float64) @ basis.T)[:hash_size, :hash_size]
        assert phash(picture, hash_size) == np.packbits((low > np.median(low)).flatten()).tobytes().hex()


def test_dct_matrix_is_the_dct_ii_definition() -> None:
    x = np.random.default_rng(0).random(8)
    direct = [sum(x[n] * np.cos(np.pi * k * (2 * n + 1) / 16) for n in range(8)) for k in range(8)]
    assert np.allclose(_dct_matrix(8) @ x, direct)
