"""The demo's ingest step: the bundled sample folder through ``kcli ingest folder``, and a few of the same
images through ``kcli ingest urls`` from a throw-away HTTP server on 127.0.0.1 (offline, so the
download path runs in the demo too; ``allow_private`` is needed for a loopback address)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from kdata.demo_context import DemoContext, StepResult
from kdata.ingest.fetch import FetchConfig
from kdata.ingest.folder import FolderIngestConfig, ingest_folder
from kdata.ingest.imaging import ImageOptions
from kdata.ingest.mapping import load_mapping
from kdata.ingest.urls import UrlIngestConfig, ingest_urls
from kdata.manifest import DESCRIPTOR, open_manifest
from kdata.runner import RunOptions
from kdata.samples import SAMPLE_IMAGES

URL_SAMPLES = ("ink_painting-06.jpg", "ink_painting-09.jpg", "hanok-13.jpg", "not-there.jpg")


def step_ingest(ctx: DemoContext) -> StepResult:
    out = ctx.path("01-ingest")
    config = FolderIngestConfig(root=str(SAMPLE_IMAGES), mapping_name="ink-painting",
                                mapping=load_mapping("ink-painting"), shard_size=11)
    result = ingest_folder(config, out)
    urls = _ingest_urls(ctx.path("01-ingest-urls"))
    ctx.image_manifest = out
    note = f"urls: {urls['stats'].get('kept', 0)} of {urls['rows']} kept from a local server"
    return StepResult("ingest", out, {"rows": result.manifest.num_rows, "stats": result.stats, "urls": urls,
                                      "note": note})


def _ingest_urls(out: Path) -> dict:
    if (out / DESCRIPTOR).exists():  # done before; the server's port differs each time, so never resumed
        manifest = open_manifest(out)
        return {"rows": manifest.num_rows, "stats": manifest.descriptor.get("stats", {})}
    with _serve(SAMPLE_IMAGES) as base:
        listing = out.parent / "01-ingest-urls.txt"
        listing.write_text("".join(f"{base}/{name}\n" for name in URL_SAMPLES), encoding="utf-8")
        config = UrlIngestConfig(input=str(listing), shard_size=2, threads=4,
                                 image=ImageOptions(resize_mode="keep_ratio", image_size=128, encode_format="jpeg"),
                                 fetch=FetchConfig(allow_private=True, retries=0))
        # An interrupted earlier try is started again.
        result = ingest_urls(config, out, options=RunOptions(overwrite=True))
    return {"rows": result.manifest.num_rows, "stats": result.stats}


@contextmanager
def _serve(folder: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    disable_nagle_algorithm = True  # as real servers do; avoids 40 ms delayed-ACK stalls

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
        pass
