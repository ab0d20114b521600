"""The dataset card (``README.md``): Hub metadata in YAML and a body a person reads.

The YAML is built with ``huggingface_hub``'s ``DatasetCardData`` and filled by ``datasets``' own
``MetadataConfigs`` / ``DatasetInfosDict`` (what ``push_to_hub`` writes), so ``configs``/``data_files``
and ``dataset_info`` are in exactly the form the Hub and ``load_dataset`` read. The body is a Jinja
template shipped with the package (``templates/dataset_card.md.txt``: ``.txt`` so the package-data
globs include it). Every value from the manifest (captions, sources, licences, reasons, lineage) reaches
the body through :func:`kdata.markup.md_text`, so data cannot add HTML, links or headings; the YAML is
written by ``yaml.dump``, which quotes every value, so data cannot add keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kdata import __version__
from kdata.markup import md_code, md_text, one_line

if TYPE_CHECKING:
    import datasets
    from huggingface_hub import DatasetCard

TEMPLATE = Path(__file__).parent / "templates" / "dataset_card.md.txt"
DATA_FILES = "data/train-*"
CAPTION_COLUMNS = ("caption_ko", "caption_en", "caption")
# Hub licence identifiers (https://huggingface.co/docs/hub/repositories-licenses) that image sources use.
HUB_LICENSES = {
    "apache-2.0", "mit", "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0", "cc-by-sa-3.0",
    "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0", "cc-by-nc-sa-3.0",
    "cc-by-nc-sa-4.0", "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0", "odc-by", "odbl", "pddl", "openrail",
    "bsd-3-clause", "gpl-3.0", "unknown",
}  # fmt: skip
# Hub size categories: https://huggingface.co/docs/hub/datasets-cards (size_categories).
SIZE_BOUNDS = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
               (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (10**9, "100M<n<1B"), (10**10, "1B<n<10B"),
               (10**11, "10B<n<100B"), (10**12, "100B<n<1T")]


@dataclass
class CardFacts:
    """Everything the card states, gathered by the exporter."""

    title: str
    load_id: str
    fingerprint: str
    features: datasets.Features
    rows: int
    num_bytes: int
    download_size: int
    file_count: int
    funnel: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    models: list[dict[str, str]]
    lineage: list[dict[str, Any]]
    examples: list[dict[str, Any]]
    counters: dict[str, int]
    keep_exif: bool
    grid_file: str | None = None
    extra_tags: list[str] = field(default_factory=list)


def build_card(facts: CardFacts) -> DatasetCard:
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard, DatasetCardData

    license_id, license_note, license_extra = hub_license([r.get("license") for r in facts.sources])
    card_data = DatasetCardData(
        language=["ko", "en"],
        license=license_id,
        task_categories=task_categories(facts.features),
        size_categories=[size_category(facts.rows)],
        pretty_name=one_line(facts.title),
        tags=["kcli", "korean", *facts.extra_tags],
        **license_extra,
    )
    MetadataConfigs({"default": {"data_files": [{"split": "train", "path": DATA_FILES}]}}).to_dataset_card_data(
        card_data
    )
    split = SplitInfo(name="train", num_bytes=facts.num_bytes, num_examples=facts.rows)
    info = DatasetInfo(
        features=facts.features,
        splits=SplitDict({"train": split}),
        download_size=facts.download_size,
        dataset_size=facts.num_bytes,
    )
    DatasetInfosDict({"default": info}).to_dataset_card_data(card_data)
    return DatasetCard.from_template(card_data, template_path=str(TEMPLATE), **_body(facts, license_id, license_note))


def _body(facts: CardFacts, license_id: str, license_note: str) -> dict[str, Any]:
    source_header = [c for c in ("source", "license") if any(r.get(c) is not None for r in facts.sources)]
    caption_columns = [c for c in CAPTION_COLUMNS if c in facts.features]
    text_columns = [c for c in (*CAPTION_COLUMNS, "alt_text") if c in facts.features]
    example_header = ["key", *text_columns] if text_columns else []
    return {
        "title": md_text(facts.title),
        "description": _description(facts),
        "grid_file": facts.grid_file,
        "load_id": facts.load_id,
        "caption_columns": caption_columns,
        "file_count": facts.file_count,
        "download_size_text": human_bytes(facts.download_size),
        "funnel": [(md_text(r["status"]), md_text(r["reason"] or "—"), f"{r['rows']:,}") for r in facts.funnel],
        "export_notes": md_text(_export_notes(facts.counters)),
        "source_header": source_header,
        "sources": [[md_text(r.get(c)) for c in source_header] + [f"{r['rows']:,}"] for r in facts.sources]
        if source_header
        else [],
        "license": md_code(license_id),
        "license_note": md_text(license_note),
        "models": [(md_text(m["stage"]), md_text(m["setting"]), md_text(m["model"])) for m in facts.models],
        "columns": [(md_text(name), md_text(_feature_text(feature))) for name, feature in facts.features.items()],
        "example_header": example_header,
        "examples": [[md_text(row.get(c)) for c in example_header] for row in facts.examples] if example_header
        else [],
        "privacy": _privacy(facts),
        "kcli_version": __version__,
        "fingerprint": md_code(facts.fingerprint),
        "lineage": [(md_text(e["stage"]), md_text(e["created"]), md_text(e["kcli_version"])) for e in facts.lineage],
    }


def _description(facts: CardFacts) -> str:
    total = sum(r["rows"] for r in facts.funnel)
    left_out = total - facts.rows
    return (
        f"{facts.rows:,} images with Korean and English metadata, published by kcli from a manifest of "
        f"{total:,} rows ({left_out:,} rejected, failed or unreadable rows left out)."
    )


def _export_notes(counters: dict[str, int]) -> str:
    notes = [f"{n:,} {k.split('/', 1)[1]}" for k, n in sorted(counters.items()) if k.startswith("skipped/") and n]
    return ("left out while exporting (bytes unreadable): " + ", ".join(notes)) if notes else ""


def _privacy(facts: CardFacts) -> str:
    if facts.keep_exif:
        return "Image metadata (EXIF, XMP, IPTC) was kept as the sources published it (`--keep-exif`)."
    stripped = facts.counters.get("exif/stripped_lossless", 0)
    reencoded = facts.counters.get("exif/reencoded", 0)
    return (
        "EXIF, XMP and IPTC metadata (which can hold GPS positions and owner names) was removed: "
        f"{stripped:,} JPEGs had it cut out losslessly, {reencoded:,} images were re-encoded to apply their "
        "EXIF rotation; all other images are byte-for-byte as collected. Local `file:` URLs are published as null."
    )


def hub_license(values: Sequence[str | None]) -> tuple[str, str, dict[str, str]]:
    """The card's ``license``: one Hub id, or ``other`` with a name when rows carry several or unknown ones."""
    distinct = sorted({str(v).strip().lower() for v in values if v})
    if not distinct:
        return "unknown", "the manifest records no licence", {}
    if len(distinct) == 1 and distinct[0] in HUB_LICENSES:
        return distinct[0], "", {}
    if len(distinct) == 1:
        slug = "".join(ch if ch.isalnum() else "-" for ch in distinct[0]).strip("-")
        return "other", f"source licence {distinct[0]}", {"license_name": slug or "custom"}
    return "other", "rows carry different licences: " + ", ".join(distinct), {"license_name": "mixed-licenses"}


def task_categories(features: datasets.Features) -> list[str]:
    if any(c in features for c in CAPTION_COLUMNS):
        return ["text-to-image", "image-to-text"]
    if "category" in features:
        return ["image-classification"]
    return ["unconditional-image-generation"]


def size_category(rows: int) -> str:
    for bound, label in SIZE_BOUNDS:
        if rows < bound:
            return label
    return "n>1T"


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _feature_text(feature: Any) -> str:
    name = type(feature).__name__
    return feature.dtype if name == "Value" else name
