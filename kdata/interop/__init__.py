"""Datasets in and out of the tools users already have: img2dataset, webdataset, Hugging Face, kohya.

- :mod:`kdata.interop.detect` — which layout a source folder or file has (``--format auto``).
- :mod:`kdata.interop.sources` — readers: each source becomes staged rows (key, bytes or where the bytes
  lie, caption, source metadata), never re-downloaded.
- :mod:`kdata.interop.stage` — ``kcli import``: staged rows become an image manifest through ingest's
  image handling (:mod:`kdata.ingest.imaging`), resumable like every stage.
- :mod:`kdata.interop.webdataset`, :mod:`kdata.interop.kohya` — the tar and kohya layouts, both ways.
- :mod:`kdata.interop.export` — ``kcli export``: a manifest's kept rows as webdataset shards or a kohya folder.
"""
