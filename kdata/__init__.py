"""kdata: build Korean-aware image datasets as Parquet manifests (crawl, ingest, filter, caption, publish)."""

# The one place the version is written: pyproject.toml reads it from here (``[tool.setuptools.dynamic]``).
# A literal, not importlib.metadata: that lookup costs every command ~30 ms at start-up, and it named the
# distribution, which can change.
__version__ = "0.1.0"

__all__ = ["__version__"]
