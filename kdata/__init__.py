"""kdata: build Korean-aware image datasets as Parquet manifests (crawl, ingest, filter, caption, publish)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kcli")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
