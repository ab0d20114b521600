"""The manifest contract: column names, Arrow types, status values and the schema version.

This module is the source of truth for what a stage may expect in a manifest. A stage adds columns; it
never renames or removes the core ones. Two kinds of manifest exist:

- ``image``: one row per image. The bytes live either inline (``image_bytes``) or in a content-addressed
  blob store (``image_path`` = ``<sha256[:2]>/<sha256>.<ext>`` under one of the manifest's blob dirs).
  Exactly one of the two is set on a row that has bytes; ``kdata.blobs.read_image_bytes`` reads both.
  Inline keeps a shard self-contained (good up to a few hundred KB per image, like img2dataset's
  parquet output); the blob store suits large originals and is shared by every child manifest.
- ``parallel``: one row per Korean/English sentence pair, for the text-encoder trainer.

Every row carries ``status`` (see :class:`Status`) and, unless it is ``ok``, a ``reason``. A rejected or
failed row stays in the manifest: nothing is silently lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from kdata.errors import ManifestSchemaError

SCHEMA_VERSION = 1


class Status:
    """Row status values. ``ok`` rows flow on to the next stage; the others pass through unchanged."""

    OK = "ok"
    REJECTED = "rejected"  # a stage decided against the row (filter threshold, duplicate, opt-out)
    FAILED = "failed"  # the row could not be processed (download error, undecodable bytes)

    ALL = (OK, REJECTED, FAILED)


@dataclass(frozen=True)
class ManifestKind:
    """A manifest kind: the columns it must have and the types of columns it may have."""

    name: str
    required: pa.Schema
    optional: pa.Schema

    def field(self, name: str) -> pa.Field | None:
        for schema in (self.required, self.optional):
            index = schema.get_field_index(name)
            if index >= 0:
                return schema.field(index)
        return None


IMAGE = ManifestKind(
    name="image",
    required=pa.schema(
        [
            pa.field("key", pa.string(), nullable=False),
            pa.field("source", pa.string()),
            pa.field("url", pa.string()),
            pa.field("page_url", pa.string()),
            pa.field("image_bytes", pa.binary()),
            pa.field("image_path", pa.string()),
            pa.field("sha256", pa.string()),
            pa.field("width", pa.int32()),
            pa.field("height", pa.int32()),
            pa.field("format", pa.string()),
            pa.field("status", pa.string(), nullable=False),
            pa.field("reason", pa.string()),
        ]
    ),
    # Columns later stages add. Their types are checked when present; unknown extra columns (source
    # metadata such as an archive's paper type) are allowed and carried through untouched.
    optional=pa.schema(
        [
            pa.field("original_width", pa.int32()),
            pa.field("original_height", pa.int32()),
            pa.field("phash", pa.string()),
            pa.field("exif_json", pa.string()),
            pa.field("category", pa.string()),
            pa.field("alt_text", pa.string()),
            pa.field("caption", pa.string()),
            pa.field("caption_en", pa.string()),
            pa.field("caption_ko", pa.string()),
            pa.field("caption_en_source", pa.string()),
            pa.field("caption_ko_source", pa.string()),
            pa.field("caption_en_model", pa.string()),
            pa.field("caption_ko_model", pa.string()),
            pa.field("caption_en_prompt_hash", pa.string()),
            pa.field("caption_ko_prompt_hash", pa.string()),
            pa.field("caption_en_reason", pa.string()),
            pa.field("caption_ko_reason", pa.string()),
            pa.field("license", pa.string()),
            pa.field("duplicate_of", pa.string()),
            pa.field("embedding_ref", pa.string()),
            pa.field("clip_score", pa.float32()),
            pa.field("aesthetic_score", pa.float32()),
            pa.field("nsfw_score", pa.float32()),
        ]
    ),
)

PARALLEL = ManifestKind(
    name="parallel",
    required=pa.schema(
        [
            pa.field("key", pa.string(), nullable=False),
            pa.field("ko", pa.string()),
            pa.field("en", pa.string()),
            pa.field("source", pa.string()),
            pa.field("split", pa.string()),
            pa.field("status", pa.string(), nullable=False),
            pa.field("reason", pa.string()),
        ]
    ),
    optional=pa.schema([pa.field("category", pa.string())]),
)

# One row per crawled page (``kcli crawl``): what was fetched, how it ended, and the page-level context its
# images inherit. Rejected rows are policy decisions (robots.txt, noai opt-outs); failed rows are errors.
PAGE = ManifestKind(
    name="page",
    required=pa.schema(
        [
            pa.field("key", pa.string(), nullable=False),
            pa.field("url", pa.string()),
            pa.field("status", pa.string(), nullable=False),
            pa.field("reason", pa.string()),
        ]
    ),
    optional=pa.schema(
        [
            pa.field("depth", pa.int32()),
            pa.field("http_status", pa.int32()),
            pa.field("image_count", pa.int32()),
            pa.field("link_count", pa.int32()),
            pa.field("rendered", pa.bool_()),
        ]
    ),
)

KINDS: dict[str, ManifestKind] = {IMAGE.name: IMAGE, PARALLEL.name: PARALLEL, PAGE.name: PAGE}


def get_kind(name: str) -> ManifestKind:
    try:
        return KINDS[name]
    except KeyError:
        raise ManifestSchemaError(f"unknown manifest kind {name!r}; valid kinds: {', '.join(sorted(KINDS))}") from None


def _compatible(actual: pa.DataType, expected: pa.DataType) -> bool:
    """Large and small variants of the same logical type are interchangeable on read."""
    if actual == expected:
        return True
    pairs = {(pa.large_string(), pa.string()), (pa.large_binary(), pa.binary())}
    return (actual, expected) in pairs


def validate_schema(schema: pa.Schema, kind: ManifestKind, where: str = "manifest") -> None:
    """Raise :class:`ManifestSchemaError` naming the first missing or mistyped column."""
    names = set(schema.names)
    missing = [f.name for f in kind.required if f.name not in names]
    if missing:
        raise ManifestSchemaError(
            f"{where}: missing required column {missing[0]!r} for a {kind.name} manifest"
            + (f" (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else "")
        )
    for field in schema:
        expected = kind.field(field.name)
        if expected is not None and not _compatible(field.type, expected.type):
            raise ManifestSchemaError(f"{where}: column {field.name!r} has type {field.type}, expected {expected.type}")


def conform_table(table: pa.Table, kind: ManifestKind) -> pa.Table:
    """Add absent core columns as nulls and cast known columns to their contract types.

    Stages build tables from Python rows, where an all-null column has no type; this gives every shard
    the same schema so shards concatenate and readers see one contract.
    """
    for field in kind.required:
        if field.name not in table.column_names:
            table = table.append_column(field.name, pa.nulls(len(table), field.type))
    # Contract columns first, in contract order, then whatever else the rows carry.
    core = list(kind.required.names)
    table = table.select(core + [n for n in table.column_names if n not in core])
    columns = []
    fields = []
    for name, column in zip(table.column_names, table.columns):
        expected = kind.field(name)
        target = expected.type if expected is not None else column.type
        if column.type != target and (pa.types.is_null(column.type) or _castable(column.type, target)):
            column = column.cast(target)
        columns.append(column)
        fields.append(pa.field(name, column.type))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _castable(source: pa.DataType, target: pa.DataType) -> bool:
    numeric = pa.types.is_integer(source) or pa.types.is_floating(source)
    return (numeric and (pa.types.is_integer(target) or pa.types.is_floating(target))) or (_compatible(source, target))


def core_column_names(kind: ManifestKind) -> list[str]:
    return list(kind.required.names)
