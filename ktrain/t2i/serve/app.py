"""The FastAPI application: the page, its configuration, and ``POST /api/generate`` behind the queue.

Rendering runs on a single-thread executor, so the event loop keeps answering (the page, health checks,
refusals) while an image renders, and the model never renders two images at once. A request that finds
the queue full is answered at once with 503, a ``Retry-After`` header and a message; a request outside
the limits with 400 and a message; a failure inside the model with 500 and a message, and the server
carries on.

With a prompt index (``--prompt-index``), ``GET /api/suggest?q=TEXT&k=N`` answers the nearest corpus prompts
with their scores and the search's time; searches run on a thread of their own, so the page's suggestions
keep coming while an image renders. Without one, the endpoint answers 404 and the page shows no panel.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from ktrain.t2i.serve.limits import Features, GenerateRequest, Job, RequestRejected, ServeLimits, check_request
from ktrain.t2i.serve.queue import AdmissionQueue
from ktrain.t2i.serve.suggest import DEFAULT_SUGGESTIONS, MAX_SUGGESTIONS, PromptSuggester, check_suggest

STATIC = Path(__file__).parent / "static"
# The page sets every text with textContent; this policy is the second line: no inline or foreign script,
# no plugin, no framing, and images only from this server or the data: URLs that /api/generate returns.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
log = logging.getLogger(__name__)


class Engine(Protocol):
    lora_names: list[str]
    native_size: int
    size_multiple: int

    def describe(self) -> dict[str, Any]: ...

    def generate(self, job: Job) -> Any: ...  # -> engine.Rendered


def _features(engine: Engine) -> Features:
    return getattr(engine, "features", Features())  # an engine without optional stages or pipelines


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
    if first.get("type") == "json_invalid":
        return "The request body is not valid JSON."
    return f"{where}: {first.get('msg', 'invalid value')}."


class RenderService:
    """The single render worker and its admission queue; ``submit`` answers a checked job."""

    def __init__(self, engine: Engine, limits: ServeLimits) -> None:
        self.engine = engine
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kcli-render")
        self.admission = AdmissionQueue(limits.max_queue)

    async def submit(self, job: Job) -> JSONResponse:
        if not self.admission.try_enter():
            wait = self.admission.retry_after()
            return _error(503, f"The server is busy ({self.admission.capacity} requests are ahead of yours). "
                          f"Please try again in {wait} s.", {"Retry-After": str(wait)})
        queued = time.perf_counter()
        started: dict[str, float] = {}

        def run() -> Any:
            started["at"] = time.perf_counter()
            return self.engine.generate(job)

        render_seconds = None
        try:
            rendered = await asyncio.get_running_loop().run_in_executor(self.executor, run)
            render_seconds = time.perf_counter() - started["at"]
        except Exception as exc:  # a bug or an out-of-memory in the model: answer it, keep serving
            log.exception("generation failed")
            reason = (str(exc).splitlines() or [""])[0][:200]
            return _error(500, f"Generation failed: {type(exc).__name__}: {reason}")
        finally:
            self.admission.leave(render_seconds)
        return JSONResponse(_result(job, rendered, started["at"] - queued, time.perf_counter() - queued))

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def _result(job: Job, rendered: Any, waited: float, total: float) -> dict[str, Any]:
    seconds = {f"{k}_s": round(v, 4) for k, v in rendered.seconds.items()}
    seconds.update(queue_wait_s=round(waited, 4), total_s=round(total, 4))
    return {"image": "data:image/png;base64," + base64.b64encode(rendered.png).decode("ascii"),
            "seed": job.seed, "steps": job.steps, "guidance": job.guidance, "width": job.width,
            "height": job.height, "loras": [{"name": n, "weight": w} for n, w in job.loras], "timings": seconds,
            "pipeline": job.pipeline, "prompt": job.prompt, "prompt_used": getattr(rendered, "prompt_used", "")
            or job.prompt, "refine": job.refine, "upscale": job.upscale}


def _config(engine: Engine, limits: ServeLimits, suggester: PromptSuggester | None) -> dict[str, Any]:
    features = _features(engine)
    return {"model": engine.describe(), "loras": engine.lora_names,
            "features": {"pipelines": list(features.pipelines), "refiner": features.refiner,
                         "upscaler": features.upscaler, "suggest": suggester is not None},
            "prompt_index": suggester.describe() if suggester else None,
            "limits": {"max_prompt_chars": limits.max_prompt_chars, "max_steps": limits.max_steps,
                       "max_image_size": limits.max_image_size, "max_queue": limits.max_queue,
                       "size_multiple": engine.size_multiple, "max_suggestions": MAX_SUGGESTIONS},
            "defaults": {"steps": min(limits.default_steps, limits.max_steps), "guidance": limits.default_guidance,
                         "size": engine.native_size}}


class SuggestService:
    """Prompt searches on a thread of their own: suggestions keep coming while an image renders."""

    def __init__(self, suggester: PromptSuggester, limits: ServeLimits) -> None:
        self.suggester, self.limits = suggester, limits
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kcli-suggest")

    async def answer(self, query: str, k: int) -> JSONResponse:
        try:
            query, k = check_suggest(query, k, self.limits)
        except RequestRejected as exc:
            return _error(400, str(exc))
        if not query:
            return JSONResponse({"query": "", "hits": [], "embed_ms": 0.0, "search_ms": 0.0})
        try:
            found = await asyncio.get_running_loop().run_in_executor(self.executor, self.suggester.suggest, query, k)
        except Exception as exc:  # a broken index or embedder: answer it, keep serving
            log.exception("prompt search failed")
            reason = (str(exc).splitlines() or [""])[0][:200]
            return _error(500, f"Prompt search failed: {type(exc).__name__}: {reason}")
        return JSONResponse(found)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def create_app(engine: Engine, limits: ServeLimits, suggester: PromptSuggester | None = None) -> FastAPI:
    """The app; with ``suggester`` (``--prompt-index``) it also answers ``GET /api/suggest?q=&k=``."""
    service = RenderService(engine, limits)
    suggestions = SuggestService(suggester, limits) if suggester else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        yield
        service.close()
        if suggestions:
            suggestions.close()

    app = FastAPI(title="kcli serve", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.service = service
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(RequestValidationError)
    async def bad_body(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, _validation_message(exc))

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/api/config")
    async def config() -> dict[str, Any]:
        return _config(engine, limits, suggester)

    @app.get("/api/suggest")
    async def suggest(q: str = "", k: int = DEFAULT_SUGGESTIONS) -> JSONResponse:
        if suggestions is None:
            return _error(404, "This server has no prompt index (start it with --prompt-index INDEX).")
        return await suggestions.answer(q, k)

    @app.get("/healthz")
    async def health() -> dict[str, Any]:
        return {"status": "ok", **service.admission.stats()}

    @app.post("/api/generate")
    async def generate(body: GenerateRequest) -> JSONResponse:
        try:
            job = check_request(body, limits, engine.lora_names, engine.native_size, engine.size_multiple,
                                _features(engine))
        except RequestRejected as exc:
            return _error(400, str(exc))
        return await service.submit(job)

    return app
