"""One local Ray with 2 CPUs for every Ray test in this package (Ray takes seconds to start).

It also declares one *logical* GPU, which needs no hardware: enough to check that a GPU stage's actors ask
Ray for one. Subprocess drivers (the CLI, a killed run) join this Ray through its address.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from tests.helpers.cli import REPO
from tests.runner.ray_stages import INSTALL


@pytest.fixture(scope="package")
def ray_address() -> Iterator[str]:
    ray = pytest.importorskip("ray", reason=f"Ray is not installed here ({INSTALL}; scripts/setup.sh installs it)")
    temp = tempfile.mkdtemp(prefix="kray-")  # short: Ray's socket paths must stay under 108 bytes
    with pytest.MonkeyPatch.context() as patch:
        # Ray's workers inherit this, so they import this checkout's kdata and tests packages.
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False,
                 _temp_dir=temp)
        try:
            yield ray.get_runtime_context().gcs_address
        finally:
            ray.shutdown()
            shutil.rmtree(temp, ignore_errors=True)
