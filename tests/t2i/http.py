"""Small HTTP helpers for the serve tests: start ``kcli serve`` in a subprocess, post JSON, read answers."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.helpers.cli import kcli_popen


def start_serve(args: list[str], stderr_log: Path, timeout: float = 300) -> tuple[subprocess.Popen, dict]:
    """Start ``kcli serve ... --port 0 --json`` and wait for the JSON it prints once it listens."""
    with open(stderr_log, "wb") as stderr:  # the child keeps its own copy of the descriptor
        process = kcli_popen("serve", *args, "--port", "0", "--json", env={"OMP_NUM_THREADS": "1"},
                             stdout=subprocess.PIPE, stderr=stderr, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"kcli serve exited ({process.wait()}): {stderr_log.read_text()[-3000:]}")
        lines.append(line)
        if line.startswith("}"):
            return process, json.loads("".join(lines))
    process.kill()
    raise AssertionError("kcli serve did not start in time")


def post(url: str, body: Any, timeout: float = 120) -> tuple[int, dict[str, str], dict]:
    """(status, headers, JSON body) of a POST; HTTP errors are answers too."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())
