"""A Hugging Face cache laid out as the Hub client leaves it, and a model card's code run against it: how
the release tests prove a card's code runs as written, offline."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers.cli import subprocess_env

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def seed_hub_cache(cache: Path, repo_id: str, folder: Path) -> None:
    """Put ``folder`` in ``cache`` as the snapshot of model repo ``repo_id`` at ``main``."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(folder, repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)


def run_card_code(code: str, cache: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The card's code as written, in a fresh offline interpreter reading ``cache``; saves ``image.png``."""
    script = code + "\nimage.save('image.png')\n"
    env = {**subprocess_env(), "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", script], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
