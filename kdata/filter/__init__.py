"""``kcli filter``: quality metrics, text checks, CLIP/aesthetic/safety scores, dedup, and a report.

- :mod:`kdata.filter.registry` — filters registered by name with a config dataclass each
  (:mod:`~kdata.filter.quality`, :mod:`~kdata.filter.text`, :mod:`~kdata.filter.scores`).
- :mod:`kdata.filter.config` — the ``[[rules]]`` TOML config, with ``when``/``unless`` scopes.
- :mod:`kdata.filter.stage` — the per-row score stage and the final apply stage (runner stages).
- :mod:`kdata.filter.plan` — which rules run on a given manifest (rules whose columns it lacks or leaves
  empty are skipped and reported) and which scores the run must compute; ``kcli filter --explain``.
- :mod:`kdata.filter.decide` — the global pass: percentile thresholds and duplicate groups (the copy a
  curator would keep, with ``dup_keep_reason``), over an index that is not all-pairs
  (:mod:`kdata.filter.near_dup`; crop- and border-tolerant pHashes in :mod:`~kdata.filter.crop_hash` and
  :mod:`~kdata.filter.phash_links`).
- :mod:`kdata.filter.clip`, :mod:`~kdata.filter.embed_cache`, :mod:`~kdata.filter.heads`,
  :mod:`~kdata.filter.safety` — models, the embedding cache, and the MLP heads.
- :mod:`kdata.filter.run` — ``run_filter``, which the CLI and the demo call; :mod:`~kdata.filter.report`.

Importing this package is cheap: torch is imported only where a model is loaded.
"""
