"""``kcli serve``: request limits and their messages, the bounded queue, the API over HTTP, a load test."""

from __future__ import annotations

import base64
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from kdata.errors import ConfigError
from ktrain.t2i.serve.limits import GenerateRequest, Job, LoraChoice, RequestRejected, ServeLimits, check_request
from ktrain.t2i.serve.queue import AdmissionQueue
from tests.t2i.http import get_json, post

LIMITS = ServeLimits(max_prompt_chars=20, max_steps=8, max_image_size=128, max_queue=2, default_steps=30)


def _check(**fields: Any) -> Job:
    return check_request(GenerateRequest(**fields), LIMITS, ["ink", "hanok"], 64, 8)


@pytest.mark.parametrize(("fields", "message"), [
    ({"prompt": "   "}, "Please enter a prompt (Korean text, up to 20 characters)."),
    ({"prompt": "가" * 21}, "The prompt is 21 characters long; the limit is 20 characters. Please shorten it."),
    ({"prompt": "가", "negative_prompt": "x" * 30},
     "The negative prompt is 30 characters long; the limit is 20 characters. Please shorten it."),
    ({"prompt": "가", "steps": 9}, "Steps must be between 1 and 8; got 9."),
    ({"prompt": "가", "steps": 0}, "Steps must be between 1 and 8; got 0."),
    ({"prompt": "가", "guidance": 31}, "Guidance must be between 0 and 30; got 31."),
    ({"prompt": "가", "width": 60}, "Width must be a multiple of 8 between 8 and 128 pixels; got 60."),
    ({"prompt": "가", "height": 256}, "Height must be a multiple of 8 between 8 and 128 pixels; got 256."),
    ({"prompt": "가", "width": 0}, "Width must be a multiple of 8 between 8 and 128 pixels; got 0."),
    ({"prompt": "가", "height": -64}, "Height must be a multiple of 8 between 8 and 128 pixels; got -64."),
    ({"prompt": "가", "seed": -1}, "The seed must be between 0 and 4294967295; got -1."),
    ({"prompt": "가", "loras": [LoraChoice(name="oil")]}, "Unknown LoRA 'oil'; available: ink, hanok."),
    ({"prompt": "가", "loras": [LoraChoice(name="ink", weight=3)]},
     "The weight of LoRA 'ink' must be between -2 and 2; got 3."),
    ({"prompt": "가", "loras": [LoraChoice(name="ink"), LoraChoice(name="ink")]}, "LoRA 'ink' is chosen twice."),
])
def test_requests_outside_the_limits_get_one_clear_message(fields: dict, message: str) -> None:
    with pytest.raises(RequestRejected) as error:
        _check(**fields)
    assert str(error.value) == message


def test_a_valid_request_fills_in_defaults() -> None:
    job = _check(prompt="  한옥  ", seed=5, loras=[LoraChoice(name="hanok", weight=0.5)])
    # default_steps 30 is above max_steps 8: the limit wins
    assert job == Job("한옥", "", 5, 8, 7.5, 64, 64, (("hanok", 0.5),))
    assert 0 <= _check(prompt="가").seed <= 2**32 - 1
    with pytest.raises(ConfigError, match="--max-steps must be at least 1, got 0"):
        ServeLimits(max_steps=0)


def test_lora_options_are_checked(tmp_path: Any) -> None:
    from ktrain.t2i.serve.engine import parse_lora_options

    lora = tmp_path / "a.safetensors"
    lora.write_bytes(b"x")
    assert parse_lora_options([f"ink={lora}"]) == {"ink": str(lora)}
    for option, message in ((str(lora), "expected NAME=PATH"), (f"in.k={lora}", "a name is letters, digits"),
                            ("ink=/no/such.safetensors", "no such file or folder")):
        with pytest.raises(ConfigError, match=message):
            parse_lora_options([option])
    with pytest.raises(ConfigError, match="the name 'ink' is given twice"):
        parse_lora_options([f"ink={lora}", f"ink={lora}"])


def test_admission_queue_bounds_and_retry_after() -> None:
    queue = AdmissionQueue(max_waiting=1)
    assert [queue.try_enter() for _ in range(3)] == [True, True, False]
    assert queue.retry_after() == 1  # nothing rendered yet: one second
    queue.leave(2.2)
    queue.leave(3.8)
    assert queue.retry_after() == 3  # ceil(mean 3.0)
    assert queue.stats() == {"pending": 0, "capacity": 2, "peak": 2, "served": 2, "refused": 1}


class BlockingEngine:
    """Renders nothing until released; raises for the prompt "boom"."""

    lora_names = ["ink"]
    native_size = 64
    size_multiple = 8

    def __init__(self) -> None:
        self.release = threading.Event()

    def describe(self) -> dict[str, Any]:
        return {"base": "fake", "text_encoder": "fake", "device": "cpu"}

    def generate(self, job: Job) -> Any:
        from PIL import Image

        from ktrain.t2i.serve.engine import Rendered

        if job.prompt == "boom":
            raise RuntimeError("out of memory\nmore detail")
        assert self.release.wait(timeout=60)
        buffer = io.BytesIO()
        Image.new("RGB", (job.width, job.height)).save(buffer, format="PNG")
        return Rendered(buffer.getvalue(), {"text_encode": 0.01, "denoise": 0.02, "decode": 0.03})


def _wait_for(url: str, pending: int) -> None:
    deadline = time.monotonic() + 30
    while get_json(url + "healthz")["pending"] != pending:
        assert time.monotonic() < deadline, "requests never queued"
        time.sleep(0.02)


def test_a_full_queue_answers_503_with_retry_after_and_a_failure_answers_500() -> None:
    from ktrain.t2i.serve.app import create_app
    from ktrain.t2i.serve.server import ServerThread

    engine = BlockingEngine()
    server = ServerThread(create_app(engine, LIMITS)).start()
    try:
        with ThreadPoolExecutor(3) as clients:
            waiting = [clients.submit(post, server.url + "api/generate", {"prompt": "한옥", "seed": seed})
                       for seed in range(3)]
            _wait_for(server.url, 3)  # one rendering, two waiting: the queue is full
            status, headers, body = post(server.url + "api/generate", {"prompt": "한옥"})
            assert (status, headers["retry-after"]) == (503, "1")
            assert body == {"error": "The server is busy (3 requests are ahead of yours). Please try again in 1 s."}
            engine.release.set()
            answers = [future.result() for future in waiting]
        assert [a[0] for a in answers] == [200, 200, 200] and sorted(a[2]["seed"] for a in answers) == [0, 1, 2]
        assert set(answers[0][2]["timings"]) == {"text_encode_s", "denoise_s", "decode_s", "queue_wait_s", "total_s"}
        status, _, body = post(server.url + "api/generate", {"prompt": "boom"})
        assert (status, body) == (500, {"error": "Generation failed: RuntimeError: out of memory"})
        assert post(server.url + "api/generate", {"prompt": "한옥"})[0] == 200
        assert get_json(server.url + "healthz") == {"status": "ok", "pending": 0, "capacity": 3, "peak": 3,
                                                    "served": 4, "refused": 1}
    finally:
        server.stop()


def _png(data_url: str) -> Any:
    import numpy as np
    from PIL import Image

    assert data_url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


def test_generate_over_http_with_and_without_the_lora(serve_process: dict) -> None:
    import numpy as np

    url = serve_process["url"] + "api/generate"
    config = get_json(serve_process["url"] + "api/config")
    assert config["loras"] == ["ink"] and config["limits"]["max_steps"] == 8 and config["defaults"]["size"] == 64
    request = {"prompt": "한옥 마당의 매화", "seed": 7, "steps": 2}
    ink = [{"name": "ink", "weight": 1}]
    with_lora = post(url, {**request, "loras": ink})
    plain = post(url, request)
    again = post(url, {**request, "loras": ink})
    assert [a[0] for a in (with_lora, plain, again)] == [200, 200, 200]
    assert _png(with_lora[2]["image"]).shape == (64, 64, 3)
    assert not np.array_equal(_png(with_lora[2]["image"]), _png(plain[2]["image"]))  # the LoRA changes the image
    assert np.array_equal(_png(with_lora[2]["image"]), _png(again[2]["image"]))  # and switching back restores it
    assert set(with_lora[2]["timings"]) == {"text_encode_s", "denoise_s", "decode_s", "encode_png_s", "queue_wait_s",
                                            "total_s"}
    assert with_lora[2]["loras"] == [{"name": "ink", "weight": 1.0}]
    empty = {"error": "Please enter a prompt (Korean text, up to 200 characters)."}
    assert post(url, {"prompt": ""})[::2] == (400, empty)
    assert post(url, b"{not json")[::2] == (400, {"error": "The request body is not valid JSON."})
    assert post(url, {"prompt": "가", "steps": "many"})[2]["error"].startswith("steps: Input should be a valid integer")


def test_twenty_concurrent_requests_all_complete_or_are_told_to_retry(serve_process: dict) -> None:
    """Bounded and loopback only: 20 clients at once against a queue of 1 + 4; a refused client honours
    Retry-After (capped at 2 s here) and tries again, at most 40 times."""
    url = serve_process["url"]

    def client(index: int) -> list[tuple[int, str | None, str | None]]:
        answers = []
        for _ in range(40):
            status, headers, body = post(url + "api/generate", {"prompt": f"한옥 {index}", "seed": index, "steps": 1})
            answers.append((status, headers.get("retry-after"), body.get("error")))
            if status != 503:
                return answers
            time.sleep(min(2.0, float(headers["retry-after"])))
        return answers

    before = get_json(url + "healthz")
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(client, range(20)))
    assert all(answers[-1][0] == 200 for answers in results), results
    refusals = [a for answers in results for a in answers if a[0] != 200]
    assert all(status == 503 and int(retry) >= 1 and error.startswith("The server is busy") for status, retry, error
               in refusals)
    health = get_json(url + "healthz")
    assert serve_process["process"].poll() is None  # still running
    assert health["pending"] == 0 and health["peak"] <= health["capacity"] == 5
    assert health["served"] - before["served"] == 20 and health["refused"] - before["refused"] == len(refusals)
