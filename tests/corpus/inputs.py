"""Corpus inputs made in code: an Excel sheet whose rows cover every cleaning reason, and a small CSV."""

from __future__ import annotations

from pathlib import Path

# (원문, 번역문, expected status/reason); row n of the sheet becomes key "pairs.xlsx:n".
XLSX_ROWS = [
    ("한복은 한국의 전통 의복이다.", "Hanbok is the traditional clothing of Korea.", None),
    ("송편은 추석에 먹는 떡이다.", "Songpyeon are rice cakes eaten at Chuseok.", None),
    ("", "A translation without its original.", "empty"),
    ("김치", "김치", "identical"),
    ("Hello there", "Hi there", "wrong_script_ko"),
    ("떡볶이는 맛있다.", "떡볶이는 매콤하다.", "wrong_script_en"),
    ("한", "A single syllable paired with a whole paragraph of English text.", "length_ratio=54.00"),
    # The first pair again, with a double space and other capitals: the same pair once normalised.
    ("한복은  한국의 전통 의복이다.", "hanbok is the traditional clothing of Korea.", "duplicate=pairs.xlsx:1"),
]
CSV_TEXT = (
    "ko,en,category\n"
    "단오는 여름이 시작될 무렵의 명절이다.,Dano is a holiday that falls as summer begins.,festival\n"
    '기와지붕이 있는 한옥,"A hanok with a tiled roof, in the snow",hanok\n'
    "송편은 추석에 먹는 떡이다.,Songpyeon are rice cakes eaten at Chuseok.,food\n"
)


def write_xlsx(path: Path, header: tuple[str, str], rows: list[tuple[str, str]]) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(list(header))
    for row in rows:
        sheet.append([cell or None for cell in row])  # an empty cell, as Excel leaves it
    book.save(path)
    return path
