"""Publish an image manifest: a Hub dataset folder (Parquet shards, dataset card) and its upload."""

from kdata.publish.config import PublishConfig
from kdata.publish.errors import HubError, PublishError
from kdata.publish.export import ExportResult, export_dataset

__all__ = ["ExportResult", "HubError", "PublishConfig", "PublishError", "export_dataset"]
