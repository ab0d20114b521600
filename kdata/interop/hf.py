"""Hugging Face datasets: a Hub id through ``datasets.load_dataset``, or a ``save_to_disk`` folder.

Rows are read as Arrow batches (``with_format("arrow")``), so an ``Image`` feature arrives as its stored
``{bytes, path}`` struct and is never decoded and re-encoded. A ``DatasetDict`` gives every split (or the
one ``--split`` names) and a ``split`` column. A local folder of Parquet files (a Hub repository's
``data/``) is read by the Parquet reader directly, without the ``datasets`` cache.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from kdata.deps import require
from kdata.errors import ConfigError
from kdata.interop.sources import BATCH_ROWS, KeyMaker, SourceSpec, caption_column, image_column, stage_typed


def load_hf(spec: SourceSpec) -> dict[str, Any]:
    """``{split: Dataset}`` for a save_to_disk folder or a Hub id."""
    require("datasets", "datasets")
    import datasets

    try:
        if spec.local is not None:
            loaded = datasets.load_from_disk(str(spec.local))
        else:
            loaded = datasets.load_dataset(spec.source, split=spec.split)
    except (FileNotFoundError, ValueError, ConnectionError, OSError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"cannot load the Hugging Face dataset {spec.source}: {first[:200]}") from None
    if isinstance(loaded, datasets.DatasetDict):
        splits = dict(loaded)
        if spec.split is not None:
            if spec.split not in splits:
                raise ConfigError(f"{spec.source} has no split {spec.split!r}; it has: {', '.join(splits)}")
            splits = {spec.split: splits[spec.split]}
        return splits
    return {spec.split or "train": loaded}


def _image_feature(dataset: Any) -> str | None:
    import datasets

    return next((name for name, feature in dataset.features.items() if isinstance(feature, datasets.Image)), None)


def read_hf_source(spec: SourceSpec) -> Iterator[pa.Table]:
    keys = KeyMaker()
    for split, dataset in load_hf(spec).items():
        image_col = spec.image_col or _image_feature(dataset)
        schema = dataset.data.schema
        image_col = image_column(schema, image_col)
        caption_col = caption_column(schema, spec.caption_col, image_col)
        for table in dataset.with_format("arrow").iter(batch_size=BATCH_ROWS):
            if "split" not in table.column_names:
                table = table.append_column("split", pa.array([split] * table.num_rows, pa.string()))
            yield stage_typed(table, spec, image_col, caption_col, keys)
