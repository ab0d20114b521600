"""A manifest folder that ``datasets.load_dataset(DIR)`` opens as it is, images decoded.

``datasets`` picks a loader from the files it finds: next to the Parquet shards, ``manifest.json`` and
``stats.json`` make a folder of mixed formats that it refuses. A ``README.md`` whose YAML names the
shards (``configs`` → ``data_files``, the layout of https://huggingface.co/docs/hub/datasets-manual-configuration)
makes it read only ``data/*.parquet``, and its ``dataset_info.features`` declare the ``image_bytes``-style
columns as ``Image``: ``datasets`` casts plain binary to an Image's ``{bytes, path}`` storage on load
(``Image.cast_storage``), so kcli's own shards stay plain binary and every kcli reader reads them as before.

The card is written without importing ``datasets`` (the base install does not have it): the YAML form of
each Arrow type is spelled here. A column whose type has no spelling here leaves ``features`` out, and
``datasets`` then infers every column from the Parquet schema (images as bytes, nothing refused).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from kdata.atomic import atomic_path

CARD = "README.md"
DATA_FILES = "data/*.parquet"
# datasets' Value dtypes whose name differs from str(arrow type).
_DTYPES = {"float": "float32", "double": "float64", "halffloat": "float16"}
_PLAIN = ("string", "large_string", "binary", "large_binary", "bool", "int8", "int16", "int32", "int64",
          "uint8", "uint16", "uint32", "uint64", "float", "double", "halffloat", "date32", "null")


def is_image_column(field: pa.Field) -> bool:
    """Binary columns that hold encoded images: ``image_bytes`` and any ``<name>_image_bytes``."""
    binary = pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type)
    return binary and (field.name == "image_bytes" or field.name.endswith("_image_bytes"))


def feature_yaml(data_type: pa.DataType) -> dict | None:
    """The YAML form ``datasets`` reads for one Arrow type (None: no spelling here)."""
    name = str(data_type)
    if name in _PLAIN:
        return {"dtype": _DTYPES.get(name, name)}
    if pa.types.is_timestamp(data_type):
        return {"dtype": name}
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        inner = feature_yaml(data_type.value_type)
        return None if inner is None else {"sequence": inner.get("dtype", inner)}
    if pa.types.is_struct(data_type):
        fields = [_named(data_type.field(i)) for i in range(data_type.num_fields)]
        return None if any(f is None for f in fields) else {"struct": fields}
    return None


def _named(field: pa.Field) -> dict | None:
    spelled = feature_yaml(field.type)
    return None if spelled is None else {"name": field.name, **spelled}


def features_yaml(schema: pa.Schema) -> list[dict] | None:
    features = []
    for field in schema:
        spelled = {"name": field.name, "dtype": "image"} if is_image_column(field) else _named(field)
        if spelled is None:
            return None
        features.append(spelled)
    return features


def dataset_card(schema: pa.Schema, kind: str) -> str:
    """The README.md text: YAML front matter (configs, features) and how rejected rows come along."""
    front = {"configs": [{"config_name": "default", "data_files": [{"split": "train", "path": DATA_FILES}]}]}
    features = features_yaml(schema)
    if features is not None:
        front["dataset_info"] = {"features": features}
    images = [f.name for f in schema if is_image_column(f)]
    lines = ["---", *_yaml(front), "---", "", f"# kcli {kind} manifest", "",
             f"Parquet shards in `{DATA_FILES}`; `manifest.json` records the lineage and `stats.json` the counters.",
             "`datasets.load_dataset(\"PATH/TO/THIS/FOLDER\")` reads the shards as one `train` split.", ""]
    if images:
        lines += [f"Image columns ({', '.join(images)}) load as `datasets.Image()`; rows whose bytes live in a",
                  "blob store (`image_path`) load with that image as None.", ""]
    lines += ["Every row is here, kept or not: `status` is `ok`, `rejected` or `failed`, and `reason` says why.",
              "Keep the accepted rows with `ds.filter(lambda s: s == \"ok\", input_columns=\"status\")`.", ""]
    return "\n".join(lines)


def _yaml(value: object, indent: str = "") -> list[str]:
    """Block YAML for dicts and lists of scalars (JSON strings are valid YAML scalars)."""
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list):
                lines += [f"{indent}{key}:", *_yaml(item, indent + "  ")]
            else:
                lines.append(f"{indent}{key}: {json.dumps(item, ensure_ascii=False)}")
    else:
        for item in value:  # a list of dicts
            inner = _yaml(item, indent + "  ")
            lines += [f"{indent}- {inner[0].lstrip()}", *inner[1:]]
    return lines


def write_dataset_card(root: Path, schema: pa.Schema, kind: str) -> None:
    with atomic_path(root / CARD) as tmp:
        tmp.write_text(dataset_card(schema, kind), encoding="utf-8")
