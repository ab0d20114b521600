"""The filter config: model sections, dedup settings, and an ordered list of ``[[rules]]``.

A rule names a registered filter and sets its parameters; ``when``/``unless`` scope it to rows by column
value, so one config can hold a rule for most rows and exempt a category it would wrongly drop::

    [[rules]]
    filter = "too_light"
    unless = { category = "ink_painting" }   # ink on blank paper is meant to be mostly white

Rules run in order; a row's reason is the first rule it fails, and ``filter_failed`` lists every one it
fails, percentile rules included. Percentile rules are decided after the per-row ones, over the rows those
kept, so a row rejected by a per-row rule keeps that rule's reason even when a percentile rule listed before
it also fails.
Unknown sections, keys, filter names and parameters are errors that list what is valid. Paths in the
file are relative to the file. ``--set clip.model=ViT-B-32`` overrides one key of the file (kdata.config).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar

from annotated_types import Ge, Interval

from kdata.config import AtLeastOne, NonNegativeInt, from_dict, layered_settings
from kdata.errors import ConfigError
from kdata.filter.registry import NEEDS_AESTHETIC, NEEDS_CLIP, NEEDS_SAFETY, FilterSpec, load_builtin_filters

DEFAULT_CONFIG = Path(__file__).with_name("default.toml")
AESTHETIC_ASSET = "laion-aesthetic-vit-l-14"  # the head for ViT-L/14 in kdata.models.assets
_RULE_KEYS = ("filter", "name", "when", "unless")


@dataclass
class ClipConfig:
    """Which CLIP computes image embeddings and image-text similarity ("" = no CLIP)."""

    backend: str = "open_clip"  # open_clip | hf (transformers CLIPModel)
    model: str = ""  # e.g. "ViT-L-14:openai", "Bingsu/clip-vit-large-patch14-ko", "tiny-open-clip"
    # For image-text similarity: the first non-empty of these columns is the row's text.
    text_columns: list[str] = field(default_factory=lambda: ["caption_ko", "alt_text", "caption_en", "caption"])
    text_model: str = ""  # hf only: a CLIPTextModel folder (e.g. the Korean encoder kcli trains)
    batch_size: AtLeastOne = 32
    prefetch_threads: AtLeastOne = 2  # decode + preprocess the next images while the model runs
    cache_dir: str = ""  # embedding cache; default <kcli home>/embeddings
    # auto: a GPU where the worker has one (with --executor ray each actor then asks Ray for a GPU), else CPU.
    device: str = "auto"

    def __post_init__(self) -> None:
        _check_device(self.device)


def _check_device(device: str) -> None:
    if not (device in ("auto", "cpu") or device.startswith("cuda")):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")


@dataclass
class AestheticConfig:
    """The LAION improved aesthetic predictor head (.pth or .safetensors); "" = not scored.

    ``kcli models fetch laion-aesthetic-vit-l-14`` downloads the published ViT-L/14 head and checks its sha256.
    """

    weights: str = ""


@dataclass
class SafetyConfig:
    """An NSFW scorer from the registry in :mod:`kdata.filter.safety`; "" = not scored."""

    scorer: str = ""  # clip-nsfw-head | nudenet
    weights: str = ""  # the head's weights, for scorers over CLIP embeddings
    batch_size: AtLeastOne = 16  # images per model call, for scorers that read the images (nudenet)
    # auto: a GPU where the worker has one (with --executor ray each actor then asks Ray for a GPU), else CPU.
    device: str = "auto"

    def __post_init__(self) -> None:
        _check_device(self.device)


@dataclass
class DedupConfig:
    exact_bytes: bool = True  # same sha256 of the file bytes
    exact_pixels: bool = True  # same decoded pixels (re-encoded losslessly, metadata stripped)
    # pHash Hamming distance <= this is a near duplicate; -1 turns it off. 4 of 64 bits catches resizes
    # and re-encodes (0-2 bits on the bundled samples) well below unrelated images (>= 6 there).
    phash_max_distance: Annotated[int, Interval(ge=-1, le=32)] = 4
    # pHash is computed on luma only, so recolourings collide; a pair must also be this close on a 4x4
    # colour thumbnail (mean abs difference, 0-255). Resize/re-encode: < 1; recolours: 9-48 on the
    # samples. -1 turns the guard off.
    color_max_distance: Annotated[float, Ge(-1)] = 6.0
    # CLIP cosine >= this is a near duplicate (needs [clip]); 0 turns it off.
    embedding_min_cosine: Annotated[float, Interval(ge=0, le=1)] = 0.0
    # From this many embeddings on, cosine neighbours come from a faiss inverted-file index (about n^1.5
    # work) instead of the exact blocked product (n^2); 0 = always exact. nprobe: cells searched per vector.
    embedding_index_min_rows: NonNegativeInt = 200_000
    embedding_nprobe: AtLeastOne = 16
    # A duplicate group keeps the largest copy, then the better-encoded (bytes per pixel, same format), then
    # the sharper, then the higher score in this column, then the smallest key (kdata.filter.decide).
    prefer: str = "aesthetic_score"


@dataclass
class RuleConfig:
    filter: str
    name: str
    params: Any
    when: dict[str, list[str]] = field(default_factory=dict)
    unless: dict[str, list[str]] = field(default_factory=dict)

    def applies(self, row: dict[str, Any]) -> bool:
        """In scope: every ``when`` column matches and not every ``unless`` column does."""
        if self.when and not _matches(row, self.when):
            return False
        return not (self.unless and _matches(row, self.unless))

    @property
    def scope_columns(self) -> list[str]:
        return sorted(set(self.when) | set(self.unless))


def _matches(row: dict[str, Any], scope: dict[str, list[str]]) -> bool:
    return all(row.get(column) is not None and str(row.get(column)) in values for column, values in scope.items())


@dataclass
class FilterConfig:
    clip: ClipConfig = field(default_factory=ClipConfig)
    aesthetic: AestheticConfig = field(default_factory=AestheticConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    rules: list[RuleConfig] = field(default_factory=list)
    # The file it came from, for messages. Not a field: the same settings from another path resume.
    source: ClassVar[str] = ""

    def spec(self, rule: RuleConfig) -> FilterSpec:
        return load_builtin_filters().get(rule.filter)

    @property
    def uses_clip(self) -> bool:
        return bool(self.clip.model)


def load_filter_config(path: str | Path | None = None, sets: list[str] | None = None) -> FilterConfig:
    """Read a filter config file (the packaged default when ``path`` is None), apply ``--set`` items, validate."""
    source = Path(path) if path is not None else DEFAULT_CONFIG
    data = layered_settings(FilterConfig, source, sets=sets)
    return parse_filter_config(data, base_dir=source.resolve().parent, source=str(source))


def parse_filter_config(data: dict[str, Any], base_dir: Path | None = None, source: str = "") -> FilterConfig:
    sections = {"clip": ClipConfig, "aesthetic": AestheticConfig, "safety": SafetyConfig, "dedup": DedupConfig}
    unknown = sorted(set(data) - set(sections) - {"rules"})
    if unknown:
        raise ConfigError(f"filter config: unknown section {unknown[0]!r}; valid: {', '.join([*sections, 'rules'])}")
    where = source or "filter config"
    parts = {name: from_dict(cls, data.get(name, {}), where, prefix=f"{name}.") for name, cls in sections.items()}
    rules = data.get("rules", [])
    if not isinstance(rules, list):
        raise ConfigError("filter config: 'rules' must be an array of tables ([[rules]])")
    config = FilterConfig(**parts, rules=parse_rules(rules))
    config.source = source  # type: ignore[misc] - an instance attribute shadowing the class default
    _resolve_paths(config, base_dir)
    validate(config)
    return config


def parse_rules(items: list[Any]) -> list[RuleConfig]:
    registry = load_builtin_filters()
    rules: list[RuleConfig] = []
    for index, item in enumerate(items, start=1):
        where = f"rules[{index}]"
        if not isinstance(item, dict) or "filter" not in item:
            raise ConfigError(f"{where}: each [[rules]] entry needs filter = NAME; valid: {', '.join(registry)}")
        spec = registry.get(str(item["filter"]))
        params = {k: v for k, v in item.items() if k not in _RULE_KEYS}
        try:
            rule_params = from_dict(spec.config_cls, params, where=f"{where} ({spec.name})")
        except ConfigError as exc:  # name the rule keys too, so a typo in 'unless' is found
            raise ConfigError(f"{exc}; rule keys: {', '.join(_RULE_KEYS)}") from None
        rule = RuleConfig(spec.name, str(item.get("name") or spec.name), rule_params,
                          _scope(item.get("when"), f"{where}.when"), _scope(item.get("unless"), f"{where}.unless"))
        if "," in rule.name:  # filter_failed joins rule names with commas
            raise ConfigError(f"{where}: rule name {rule.name!r} may not hold a comma")
        if any(r.name == rule.name for r in rules):
            raise ConfigError(f"{where}: two rules are named {rule.name!r}; give one a distinct name = \"...\"")
        rules.append(rule)
    return rules


def _scope(value: Any, where: str) -> dict[str, list[str]]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"{where}: expected a table like {{ category = \"ink_painting\" }}")
    scope = {}
    for column, wanted in value.items():
        values = wanted if isinstance(wanted, list) else [wanted]
        if not values or not all(isinstance(v, (str, int, float, bool)) for v in values):
            raise ConfigError(f"{where}.{column}: expected a value or a list of values")
        scope[str(column)] = [str(v) for v in values]
    return scope


def _resolve_paths(config: FilterConfig, base_dir: Path | None) -> None:
    def resolve(value: str) -> str:
        if not value:
            return value
        path = Path(value).expanduser()
        if not path.is_absolute() and base_dir is not None and (base_dir / path).exists():
            path = base_dir / path
        return str(path)

    config.aesthetic.weights = resolve(config.aesthetic.weights)
    config.safety.weights = resolve(config.safety.weights)


def validate(config: FilterConfig) -> None:
    """Cross-section checks: a rule or a dedup mode must have the model it needs configured."""
    for rule in config.rules:
        needs = config.spec(rule).needs
        if needs == NEEDS_CLIP and not config.uses_clip:
            raise ConfigError(f"rule {rule.name!r} needs CLIP: set [clip] model = ... (e.g. \"ViT-L-14:openai\")")
        if needs == NEEDS_AESTHETIC and not config.aesthetic.weights:
            raise ConfigError(f"rule {rule.name!r} needs [aesthetic] weights = PATH (the LAION predictor .pth; "
                              f"`kcli models fetch {AESTHETIC_ASSET}` downloads it)")
        if needs == NEEDS_SAFETY and not config.safety.scorer:
            raise ConfigError(f"rule {rule.name!r} needs [safety] scorer = NAME (clip-nsfw-head or nudenet)")
    if config.aesthetic.weights and not config.uses_clip:
        raise ConfigError("[aesthetic] scores CLIP embeddings: set [clip] model = ... as well")
    if config.dedup.embedding_min_cosine > 0 and not config.uses_clip:
        raise ConfigError("[dedup] embedding_min_cosine needs [clip] model = ...")
    if config.safety.scorer:
        from kdata.filter.safety import SCORERS

        scorer = SCORERS.get(config.safety.scorer)
        if scorer.needs_clip and not config.uses_clip:
            raise ConfigError(f"safety scorer {config.safety.scorer!r} scores CLIP embeddings: set [clip] model")
    if config.clip.model:
        from kdata.filter.clip import CLIP_BACKENDS

        CLIP_BACKENDS.get(config.clip.backend)
