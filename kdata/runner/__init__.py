"""The shared stage runner: sharding, skip-done, stats, lineage and pluggable executors."""

from kdata.runner.options import RunOptions
from kdata.runner.run import RunResult, manifest_sources, resolved_config, run_stage
from kdata.runner.stage import BatchResult, ManifestShardSource, ShardSource, Stage, StageContext

__all__ = [
    "BatchResult",
    "ManifestShardSource",
    "RunOptions",
    "RunResult",
    "ShardSource",
    "Stage",
    "StageContext",
    "manifest_sources",
    "resolved_config",
    "run_stage",
]
