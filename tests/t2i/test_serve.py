"""``kcli serve``: request limits and their messages, the bounded queue, the API over HTTP, a load test."""

from __future__ import annotations

import base64
import io
import threading
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from kdata.errors import ConfigError
from ktrain.t2i.serve.limits import GenerateRequest, Job, LoraChoice, RequestRejected, ServeLimits, check_request
from ktrain.t2i.serve.queue import AdmissionQueue
from tests.t2i.http import get_json, post
from tests.t2i.tiny import KOREAN_LORA

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
    ({"prompt": "가", "loras": [LoraChoice(name="x" * 100)]},
     f"Unknown LoRA '{'x' * 64}…'; available: ink, hanok."),
    ({"prompt": "가", "loras": [LoraChoice(name="ink\u0000")]}, "Unknown LoRA 'ink\\x00'; available: ink, hanok."),
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
    from ktrain.t2i.serve.engine import adapter_names, parse_lora_options

    lora = tmp_path / "a.safetensors"
    lora.write_bytes(b"x")
    assert parse_lora_options([f"ink={lora}"]) == {"ink": str(lora)}
    korean = parse_lora_options([f"한복 LoRA={lora}", f"{unicodedata.normalize('NFD', '수묵화 LoRA')}={lora}"])
    assert korean == {"한복 LoRA": str(lora), "수묵화 LoRA": str(lora)}  # NFC, whatever the shell sent
    assert adapter_names(list(korean)) == {"한복 LoRA": "lora0", "수묵화 LoRA": "lora1"}  # what peft sees
    for option, message in ((str(lora), "expected NAME=PATH"), (f"in.k={lora}", "U\\+002E is not allowed"),
                            ("ink=/no/such.safetensors", "no such file or folder")):
        with pytest.raises(ConfigError, match=message):
            parse_lora_options([option])
    with pytest.raises(ConfigError, match="the name '한복' is given twice"):
        parse_lora_options([f"한복={lora}", f"{unicodedata.normalize('NFD', '한복')}={lora}"])


RULE = ("a name is letters and digits of any script (e.g. '한복 LoRA'), spaces, '-' and '_', starting with a "
        "letter or digit, at most 64 characters; ")


@pytest.mark.parametrize(("given", "name"), [
    ("한복 LoRA", "한복 LoRA"), ("  수묵화 LoRA ", "수묵화 LoRA"), (unicodedata.normalize("NFD", "한복"), "한복"),
    ("ink_v2-final", "ink_v2-final"), ("水墨画", "水墨画"), ("Ⅱ 세대", "Ⅱ 세대"), ("가" * 64, "가" * 64),
])
def test_lora_names_in_any_script_are_allowed_in_nfc(given: str, name: str) -> None:
    from ktrain.t2i.serve.limits import lora_name

    assert lora_name(given) == name and unicodedata.is_normalized("NFC", lora_name(given))


@pytest.mark.parametrize(("given", "reason"), [
    ("", "this one is empty"), ("   ", "this one is empty"), ("가" * 65, "this one has 65 characters"),
    ("a/b", "U+002F is not allowed"), ("a\\b", "U+005C is not allowed"), ("..", "U+002E is not allowed"),
    ("a\nb", "U+000A is not allowed"), ("a\x00b", "U+0000 is not allowed"), ("a\u200bb", "U+200B is not allowed"),
    ("\u3164", "U+3164 is not allowed"), ("<b>x</b>", "U+003C is not allowed"), ("a\"b", "U+0022 is not allowed"),
    ("-x", "this one starts with '-'"), ("_x", "this one starts with '_'"),
])
def test_lora_names_without_separators_control_or_invisible_characters(given: str, reason: str) -> None:
    from ktrain.t2i.serve.limits import lora_name

    with pytest.raises(ValueError) as error:
        lora_name(given)
    assert str(error.value) == RULE + reason


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
    assert config["loras"] == ["ink", KOREAN_LORA] and config["limits"]["max_steps"] == 8
    assert config["defaults"]["size"] == 64 and serve_process["ready"]["loras"].keys() == {"ink", KOREAN_LORA}
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


def test_a_lora_named_in_korean_is_picked_by_its_name_over_http(serve_process: dict) -> None:
    import numpy as np

    url = serve_process["url"] + "api/generate"
    request = {"prompt": "수묵화로 그린 소나무", "seed": 3, "steps": 2}
    korean = post(url, {**request, "loras": [{"name": KOREAN_LORA, "weight": 0.5}]})
    decomposed = post(url, {**request, "loras": [{"name": unicodedata.normalize("NFD", KOREAN_LORA), "weight": 0.5}]})
    both = post(url, {**request, "loras": [{"name": KOREAN_LORA, "weight": 0.5}, {"name": "ink", "weight": 1}]})
    plain, ink = post(url, request), post(url, {**request, "loras": [{"name": "ink", "weight": 1}]})
    assert [a[0] for a in (korean, decomposed, both, plain, ink)] == [200] * 5
    assert korean[2]["loras"] == decomposed[2]["loras"] == [{"name": KOREAN_LORA, "weight": 0.5}]
    images = [_png(answer[2]["image"]) for answer in (korean, both, plain, ink)]
    assert all(not np.array_equal(a, b) for i, a in enumerate(images) for b in images[i + 1:])  # four images
    assert np.array_equal(_png(korean[2]["image"]), _png(decomposed[2]["image"]))
    refused = post(url, {**request, "loras": [{"name": "수묵화", "weight": 1}]})
    assert refused[::2] == (400, {"error": f"Unknown LoRA '수묵화'; available: ink, {KOREAN_LORA}."})


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
