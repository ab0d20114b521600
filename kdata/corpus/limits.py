"""How far a corpus input may expand, and the error for an input that cannot be read as a corpus.

A small file can stand for a great deal of work: an XLSX workbook is zipped XML, and 1 MB of it can
inflate to millions of rows or one cell of hundreds of megabytes; a JSON line of 60 KB can nest deep
enough to crash a parser. Each limit below is far above what real corpora need and refuses such an
input with a one-line error that names the option raising it.
"""

from __future__ import annotations

from dataclasses import dataclass

from kdata.errors import ConfigError, KcliError
from kdata.jsondepth import DEFAULT_MAX_JSON_DEPTH


class CorpusInputError(KcliError):
    """An input file that cannot be read as a parallel corpus."""


@dataclass(frozen=True)
class CorpusLimits:
    # Excel's own limits: a sheet holds at most 1,048,576 rows and a cell 32,767 characters, so no
    # workbook Excel wrote is refused. The largest AI Hub Korean-English files hold 200,000 rows.
    max_xlsx_rows: int = 1_048_576
    max_cell_chars: int = 32_767
    # A full Excel sheet of sentence pairs (a million rows of about 250 bytes) inflates to about 300 MB.
    max_xlsx_bytes: int = 512 * 1024 * 1024
    # Sheet XML deflates about 10 to 25 times, shared strings 3 to 5; Apache POI (ZipSecureFile) refuses
    # a part that inflates more than 100 times, as a zip bomb.
    max_xlsx_ratio: float = 100.0
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH

    def __post_init__(self) -> None:
        for name in ("max_xlsx_rows", "max_cell_chars", "max_xlsx_bytes", "max_json_depth"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{option(name)} must be at least 1, got {getattr(self, name)}")
        if self.max_xlsx_ratio < 1:
            raise ConfigError(f"{option('max_xlsx_ratio')} must be at least 1, got {self.max_xlsx_ratio}")


def option(setting: str) -> str:
    """The command-line option that sets a limit: ``max_xlsx_rows`` is ``--max-xlsx-rows``."""
    return "--" + setting.replace("_", "-")
