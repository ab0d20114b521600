"""Ingest: turn URL lists and local image folders into image manifests.

- :mod:`kdata.ingest.urls` — ``kcli ingest urls``: an img2dataset-compatible downloader.
- :mod:`kdata.ingest.folder` — ``kcli ingest folder``: local trees with sidecar JSON or one metadata file.
- :mod:`kdata.ingest.crop` — ``kcli ingest crop``: random crops after a short-side resize (LoRA recipe).

The pieces each do one job: readers (input lists), plan (deterministic shards, resume and retries),
guard (which URLs and addresses may be fetched), pinning (connections to the checked addresses only),
fetch (HTTP policy), robots (opt-outs), sniff (magic bytes), imaging (safe decode and resize), phash,
exif, mapping (sidecar fields to columns).
"""
