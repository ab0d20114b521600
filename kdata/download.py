"""The download API: what a stage that fetches images from the web builds on.

``kcli ingest urls`` owns these pieces (:mod:`kdata.ingest`); another stage that downloads, such as
the crawl (:mod:`kdata.crawl`), imports them from here, so ingest's module layout can change without
reaching into every stage that fetches. The same objects, not copies: a crawled image goes through
exactly the policy a URL list does.

Network policy:

- :func:`check_url` raises :class:`BlockedUrl` for a URL kcli must not fetch (a scheme other than
  http/https, no host, an ambiguous URL that parsers read differently -- backslashes, userinfo, control
  characters or whitespace --, or a host that resolves to a loopback, private, link-local, reserved,
  multicast or cloud-metadata address unless ``allow_private``); the message is the row's reason
  (``rejected``). A host that does not resolve raises :class:`HostNotFound` (``dns_error``, a retryable
  failure). It guards against server-side request forgery from an untrusted URL list or page, and
  returns the checked :class:`Target`: a client must connect to its addresses only (as :class:`Fetcher`
  does), not look the name up again.
- :func:`optout_directive` reads ``X-Robots-Tag`` values and returns the first opt-out directive
  (``noai``, ``noimageai``, ...) that applies to a user-agent token, or None.
- :class:`FetchConfig` / :class:`Fetcher`: one polite, bounded HTTP GET per URL (connections only to
  the addresses the guard checked, every redirect hop checked before its request, retries with
  backoff, timeouts, a size cap, a per-host limit), shared by a worker's threads.

Images and output:

- :class:`ImageOptions`: how a downloaded image is checked, resized and re-encoded.
- :data:`STORES`: where image bytes go (``inline`` in the shards, or ``blobs``, the content-addressed
  store).
- :class:`UrlIngestConfig` / :class:`UrlIngestStage`: the downloader as a runner stage, one manifest row
  per URL (``ok``, ``rejected`` or ``failed`` with a reason); subclass the stage to add a policy.

Deterministic shards and resume:

- :func:`input_fingerprint`: identifies an input, so a changed input is refused on resume.
- :func:`stage_input`: writes the input once as keyed parts under the output's work folder.
- :func:`plan_sources`: one runner source per staged part, reopening done shards whose retryable
  failures still have retries left.
"""

from __future__ import annotations

from kdata.ingest.columns import STORES
from kdata.ingest.fetch import FetchConfig, Fetcher
from kdata.ingest.guard import BlockedUrl, HostNotFound, Target, check_url
from kdata.ingest.imaging import ImageOptions
from kdata.ingest.plan import input_fingerprint, plan_sources, stage_input
from kdata.ingest.robots import optout_directive
from kdata.ingest.urls import UrlIngestConfig, UrlIngestStage

__all__ = [
    "STORES",
    "BlockedUrl",
    "FetchConfig",
    "Fetcher",
    "HostNotFound",
    "ImageOptions",
    "Target",
    "UrlIngestConfig",
    "UrlIngestStage",
    "check_url",
    "input_fingerprint",
    "optout_directive",
    "plan_sources",
    "stage_input",
]
