"""Real Chromium for the ``browser`` tests (Debian's, driven through playwright)."""

from __future__ import annotations

from tests.helpers.cli import REPO

ARTIFACTS = REPO / "test-artifacts"  # screenshots a browser test leaves for a person to look at
CHROMIUM = "/usr/bin/chromium"
INSTALL_CHROMIUM = "install Chromium: apt-get install -y chromium fonts-nanum (scripts/setup.sh)"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--no-first-run", "--disable-sync"]
