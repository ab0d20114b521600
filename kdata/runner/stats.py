"""Mergeable run counters: ``total``, ``kept``, ``dropped/<reason>``, ``failed/<reason>``.

Reasons may carry a detail after ``=`` or ``:`` (``duplicate_of=<key>``, ``http_error:404``); counters
use only the part before it so the table stays short while the row keeps the whole reason.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping

import pyarrow as pa
import pyarrow.compute as pc

from kdata.schema import Status

_DETAIL = re.compile(r"[=:]")


def reason_class(reason: str | None) -> str:
    if not reason:
        return "unspecified"
    return _DETAIL.split(reason, maxsplit=1)[0].strip() or "unspecified"


def count_decisions(table: pa.Table, carried: bool = False) -> Counter[str]:
    """Count rows by status; ``carried`` rows were decided by an earlier stage and pass through."""
    counts: Counter[str] = Counter()
    if table.num_rows == 0:
        return counts
    statuses = table.column("status").to_pylist()
    reasons = table.column("reason").to_pylist() if "reason" in table.column_names else [None] * len(statuses)
    counts["total"] += len(statuses)
    for status, reason in zip(statuses, reasons):
        if status == Status.OK:
            counts["kept"] += 1
        elif carried:
            counts[f"carried/{status}"] += 1
        elif status == Status.REJECTED:
            counts[f"dropped/{reason_class(reason)}"] += 1
        else:
            counts[f"failed/{reason_class(reason)}"] += 1
    return counts


def merge(counters: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for counter in counters:
        total.update(counter)
    return dict(sorted(total.items()))


def status_mask(table: pa.Table, status: str) -> pa.ChunkedArray:
    return pc.fill_null(pc.equal(table.column("status"), status), False)
