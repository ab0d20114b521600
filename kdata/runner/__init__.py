"""The shared stage runner: sharding, skip-done, stats, lineage and pluggable executors."""

from kdata.runner.run import Progress, RunResult, manifest_sources, resolved_config, run_stage
from kdata.runner.stage import BatchResult, ManifestShardSource, ShardSource, Stage, StageContext

__all__ = [
    "BatchResult",
    "ManifestShardSource",
    "Progress",
    "RunResult",
    "ShardSource",
    "Stage",
    "StageContext",
    "manifest_sources",
    "resolved_config",
    "run_stage",
]
