"""``kcli eval t2i``: each prompt through each pipeline with the same seed, timed per stage and CLIP-scored.

Order is prompt-major (prompt 1 through every pipeline, then prompt 2 ...), so on a machine whose load
drifts (a shared CPU, a GPU that warms up) every pipeline sees the same conditions; each pipeline first
renders ``warmup`` unrecorded images, so one-time costs (lazy initialisation, kernel selection) land in no
row. Images render one at a time (batch 1): the latency a user of the demo waits for.

Before anything is rendered, :mod:`ktrain.t2i.plan` decides which model each pipeline and score uses (the
defaults are listed there) and checks that each can be found; a missing one is refused in one line, and
every pipeline's models are loaded (and warmed up) before the first recorded image.

Every (prompt, pipeline) writes its image and a JSON row under ``OUT`` as soon as it is done; a re-run with
the same generation settings skips finished rows (interrupt it and run the same command again), and the
CLIP scores, ``eval.csv``, ``summary.json``, ``report.md`` and ``report.html`` are rebuilt from what is on
disk. Changing a generation setting into the same ``OUT`` is refused unless ``overwrite``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kdata import __version__
from kdata.atomic import atomic_path, write_json_atomic
from kdata.config import AtLeastOne, NonNegativeInt
from kdata.errors import ConfigError
from kdata.outputs import check_out_vs_inputs, check_overwritable, claim_output, local_paths
from kdata.progress import ProgressCallback, ProgressEvent, notify
from ktrain.t2i.pipelines import STAGE_COLUMNS, ModelSet, ModelSpecs, PipelineSpec, parse_pipelines
from ktrain.t2i.plan import SCORES, T2IPlan, check_models, plan_t2i
from ktrain.t2i.prompts import BUNDLED_PROMPTS, BUNDLED_PROMPTS_NAME, Prompt, load_prompts
from ktrain.t2i.render import RenderSettings
from ktrain.t2i.stages import StagesConfig

CONFIG_FILE = "eval_config.json"
# Settings that decide what an image looks like or how it was timed; the rest may change between runs.
GENERATION_KEYS = ("prompts_sha256", "base", "text_encoder", "translator", "seed", "steps", "guidance",
                   "negative_prompt", "height", "width", "stages", "prompt_index")
# What an OUT written before a setting existed was made with: an evaluation without refiner, upscaler or index.
MISSING_MEANS = {"stages": asdict(StagesConfig()), "prompt_index": None}
# Settings a later run may add where an earlier one had none (no row can have used what was not there).
ADDABLE_KEYS = ("prompt_index",)
TIMING_COLUMNS = tuple(f"{stage}_s" for stage in STAGE_COLUMNS) + ("text_stage_s", "total_s")
CSV_COLUMNS = ("prompt_id", "category", "pipeline", "seed", "prompt_ko", "prompt_en", "prompt_used", "image",
               *TIMING_COLUMNS, "clip_en", "clip_ko", "neighbour_en", "neighbour_score")
NO_NEIGHBOUR = {"neighbour_en": None, "neighbour_score": None}  # every pipeline but enriched; rows written before


@dataclass
class T2IEvalConfig:
    base: str
    out: str
    pipelines: list[str] = field(default_factory=lambda: ["ko-encoder", "translate"])
    prompts: str | None = None  # None: the bundled K-contents set
    text_encoder: str | None = None  # None: the base's own
    # None: the default in ktrain.t2i.plan (a real model a user would compare with; tests pass tiny presets).
    translator: str | None = None
    english_clip: str | None = None  # "none": no clip_en
    korean_clip: str | None = None  # "none": no clip_ko
    limit: AtLeastOne | None = None
    seed: int = 0
    steps: AtLeastOne = 30
    guidance: float = 7.5
    negative_prompt: str = ""
    height: AtLeastOne | None = None
    width: AtLeastOne | None = None
    warmup: NonNegativeInt = 1
    variant: str | None = None  # the base's weight variant (fp16)
    base_config: str | None = None  # a single-file base's component configs
    stages: StagesConfig = field(default_factory=StagesConfig)  # refiner / upscaler after the base
    prompt_index: str | None = None  # kcli index build's folder: enriched appends each prompt's nearest English one

    def __post_init__(self) -> None:
        for name in ("steps", "limit", "height", "width"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"--{name} must be at least 1, got {value}")
        if self.warmup < 0:
            raise ConfigError(f"--warmup must be 0 or more, got {self.warmup}")
        # Cheap checks up front, so a typo or a Korean-only set asked for English is refused before any model
        # is looked for, loaded or a progress bar starts.
        plan_t2i(self, load_prompts(self.prompts, self.limit))

    @property
    def settings(self) -> RenderSettings:
        return RenderSettings(self.steps, self.guidance, self.negative_prompt, self.height, self.width)


@dataclass
class T2IEvalResult:
    out: Path
    csv: Path
    report_md: Path
    report_html: Path
    rows: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    generated: int
    skipped: int
    plan: T2IPlan

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "csv": str(self.csv), "report_md": str(self.report_md),
                "report_html": str(self.report_html), "rows": len(self.rows), "generated": self.generated,
                "skipped": self.skipped, "summary": self.summary, **self.plan.to_dict()}


def plan_evaluation(config: T2IEvalConfig) -> T2IPlan:
    """The models each pipeline and score will use, each found (a ConfigError naming the option otherwise)."""
    return check_models(plan_t2i(config, load_prompts(config.prompts, config.limit)))


def evaluate_t2i(config: T2IEvalConfig, overwrite: bool = False, progress: ProgressCallback | None = None,
                 models: ModelSet | None = None, plan: T2IPlan | None = None) -> T2IEvalResult:
    """Check the models, generate what is missing, score everything, write the CSV and both reports.

    ``plan``: :func:`plan_evaluation`'s answer for this config, when the caller has shown it already.
    """
    plan = plan or plan_evaluation(config)
    prompts = load_prompts(config.prompts, config.limit)
    pipelines = parse_pipelines(",".join(config.pipelines))
    out = Path(config.out)
    record = _prepare_out(out, config, plan, overwrite)
    models = models or ModelSet(ModelSpecs(config.base, config.text_encoder, plan.translator,
                                           config.variant, config.base_config, config.stages,
                                           config.prompt_index))
    generated, skipped = _generate_all(out, config, prompts, pipelines, models, progress)
    rows = [_read_row(out, pipeline.name, prompt) for prompt in prompts for pipeline in pipelines]
    _score(out, rows, plan, models.device.name, progress)
    from ktrain.t2i.report import summarize, write_reports

    summary = summarize(rows, [p.name for p in pipelines])
    csv_path = _write_csv(out / "eval.csv", rows)
    write_json_atomic(out / "summary.json", {"pipelines": summary, "config": record})
    report_md, report_html = write_reports(out, record, summary, rows, [p.name for p in pipelines])
    return T2IEvalResult(out, csv_path, report_md, report_html, rows, summary, generated, skipped, plan)


def _prepare_out(out: Path, config: T2IEvalConfig, plan: T2IPlan, overwrite: bool) -> dict[str, Any]:
    """Write the resolved config; refuse an OUT made with other settings. ``overwrite`` clears OUT's rows."""
    check_out_vs_inputs(out, local_paths([config.prompts, config.base, config.text_encoder, plan.translator,
                                          plan.english_clip, plan.korean_clip, config.prompt_index]))
    if overwrite:
        check_overwritable(out)  # only an evaluation kcli marked as its own loses its images and rows
    prompts_file = Path(config.prompts) if config.prompts else BUNDLED_PROMPTS
    # The models as resolved (a default by its name), and which one each pipeline and score used, with why a
    # score was left out: a later reader need not know this version's defaults.
    record = {**asdict(config), "translator": plan.translator, "english_clip": plan.english_clip,
              "korean_clip": plan.korean_clip, **plan.to_dict(),
              "prompts": str(prompts_file) if config.prompts else BUNDLED_PROMPTS_NAME,
              "prompts_sha256": hashlib.sha256(prompts_file.read_bytes()).hexdigest(), "kcli_version": __version__}
    previous_file = out / CONFIG_FILE
    if previous_file.exists():
        previous = json.loads(previous_file.read_text(encoding="utf-8"))
        changed = [k for k in GENERATION_KEYS if previous.get(k, MISSING_MEANS.get(k)) != record[k]
                   and not (k in ADDABLE_KEYS and previous.get(k) is None)]
        if changed and not overwrite:
            raise ConfigError(f"{out} holds an evaluation made with other settings ({', '.join(changed)}); "
                              "use another --out, or --overwrite to start again")
    if overwrite:
        for name in ("images", "rows"):
            shutil.rmtree(out / name, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    claim_output(out, "t2i-eval")
    write_json_atomic(previous_file, record)
    return record


def _row_path(out: Path, pipeline: str, prompt_id: str) -> Path:
    return out / "rows" / pipeline / f"{prompt_id}.json"  # prompt ids are plain file names (prompts.PROMPT_ID)


def _image_path(pipeline: str, prompt_id: str) -> Path:
    return Path("images") / pipeline / f"{prompt_id}.png"


def _generate_all(out: Path, config: T2IEvalConfig, prompts: list[Prompt], pipelines: list[PipelineSpec],
                  models: ModelSet, progress: ProgressCallback | None) -> tuple[int, int]:
    jobs = [(index, prompt, pipeline) for index, prompt in enumerate(prompts) for pipeline in pipelines]
    todo = [job for job in jobs if not _row_path(out, job[2].name, job[1].id).exists()]
    # Every model loads, and every pipeline renders once, before the first image is kept: a model that does
    # not load fails the run before it has written anything.
    pending = {job[2].name for job in todo}
    for pipeline in (p for p in pipelines if p.name in pending):
        pipeline.load(models)
        for _ in range(config.warmup):
            pipeline.run(models, prompts[0], config.seed, config.settings)
    for done, (index, prompt, pipeline) in enumerate(todo):
        seed = config.seed + index  # the same seed for one prompt in every pipeline
        result = pipeline.run(models, prompt, seed, config.settings)
        _save_row(out, prompt, pipeline.name, seed, result)
        notify(progress, ProgressEvent("generate", done + 1, len(todo), "images", detail=pipeline.name))
    return len(todo), len(jobs) - len(todo)


def _save_row(out: Path, prompt: Prompt, pipeline: str, seed: int, result: Any) -> None:
    image = _image_path(pipeline, prompt.id)
    with atomic_path(out / image) as tmp:
        result.image.save(tmp, format="PNG")
    seconds = {f"{stage}_s": round(result.seconds[stage], 6) for stage in STAGE_COLUMNS}
    seconds["text_stage_s"] = round(sum(result.seconds[s] for s in ("translate", "search", "text_encode")), 6)
    seconds["total_s"] = round(sum(result.seconds.values()), 6)
    row = {"prompt_id": prompt.id, "category": prompt.category, "pipeline": pipeline, "seed": seed,
           "prompt_ko": prompt.ko, "prompt_en": prompt.en, "prompt_used": result.prompt_used,
           "image": image.as_posix(), **seconds, **_neighbour_columns(result.neighbour)}
    write_json_atomic(_row_path(out, pipeline, prompt.id), row)  # last: its presence marks the row done


def _neighbour_columns(neighbour: Any) -> dict[str, Any]:
    if neighbour is None:
        return dict(NO_NEIGHBOUR)
    return {"neighbour_en": neighbour.text, "neighbour_score": neighbour.score}


def _read_row(out: Path, pipeline: str, prompt: Prompt) -> dict[str, Any]:
    row = json.loads(_row_path(out, pipeline, prompt.id).read_text(encoding="utf-8"))
    # The image is where this run put it, whatever an edited row file says: scoring opens it, reports link it.
    # A row written before the search stage existed had none: 0 s, no neighbour.
    return {"search_s": 0.0, **NO_NEIGHBOUR, **row, "image": _image_path(pipeline, prompt.id).as_posix()}


def _score(out: Path, rows: list[dict[str, Any]], plan: T2IPlan, device: str,
           progress: ProgressCallback | None) -> None:
    """``clip_en`` (English CLIP vs the English prompt) and ``clip_ko`` (Korean CLIP vs the Korean prompt);
    a score the plan leaves out stays None (empty in eval.csv, "–" in the reports)."""
    from PIL import Image

    from ktrain.t2i.clipscore import ClipScorer

    for score in SCORES:
        for row in rows:
            row[score.column] = None
    if not plan.scores:
        return
    images = [Image.open(out / row["image"]).convert("RGB") for row in rows]
    for score in SCORES:
        spec = getattr(plan, score.field)
        if spec is None:
            continue
        values = ClipScorer(spec, device).score(images, [row[score.text] for row in rows])
        for row, value in zip(rows, values):
            row[score.column] = round(value, 4)
        notify(progress, ProgressEvent("score", len(rows), len(rows), "images", detail=score.column))


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    import csv

    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows({column: row[column] for column in CSV_COLUMNS} for row in rows)
    return path
