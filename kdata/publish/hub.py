"""Upload an export folder to a Hub dataset repository through ``huggingface_hub``.

The token is whatever ``huggingface_hub`` finds itself (``HF_TOKEN``, then the ``hf auth login``
cache): kcli never puts it in a setting, a file or a log line; it only checks that one exists, and
scrubs it from any error text a server might echo. ``HfApi.upload_folder`` (huggingface_hub 2.x) is
the resumable upload: it streams files through Xet storage, commits large folders in several parts,
and a re-run skips files already committed, so an interrupted publish resumes by running it again.
Every failure becomes a one-line :class:`HubError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kdata.deps import hub_transport_errors
from kdata.outputs import HOUSEKEEPING
from kdata.publish.errors import HubError

# Remote shards this export does not contain are deleted in the same commit: a dataset re-published
# with fewer files must not keep old ``train-*`` files that the ``data/train-*`` pattern would still load.
STALE_DATA = ["data/*.parquet"]


def check_hub_ready(repo_id: str) -> str:
    """Fail before any export work when an upload cannot happen: offline, no token, a rejected token,
    an unreachable endpoint. Returns the account name the token belongs to."""
    from huggingface_hub import HfApi, constants, get_token

    if constants.is_offline_mode():
        raise HubError(_offline_message(repo_id))
    token = get_token()
    if not token:
        raise HubError("no Hugging Face token: set HF_TOKEN or run `hf auth login`, then publish again")
    with _hub_errors(repo_id, token):
        return str(HfApi(endpoint=constants.ENDPOINT).whoami().get("name", ""))


def upload_export(folder: Path, repo_id: str, private: bool, fingerprint: str) -> dict[str, Any]:
    """Create the dataset repo if needed and upload ``folder``; return the repo and commit URLs."""
    return upload_folder(folder, repo_id, "dataset", private,
                         f"Publish dataset from kcli manifest {fingerprint[:12]}", delete_patterns=STALE_DATA)


def upload_folder(folder: Path, repo_id: str, repo_type: str, private: bool, message: str,
                  delete_patterns: list[str] | None = None) -> dict[str, Any]:
    """Create a ``repo_type`` repo (dataset or model) if needed and upload ``folder`` to it in one commit."""
    from huggingface_hub import HfApi, constants, get_token

    api = HfApi(endpoint=constants.ENDPOINT)
    with _hub_errors(repo_id, get_token() or ""):
        repo_url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            repo_type=repo_type,
            folder_path=str(folder),
            commit_message=message,
            delete_patterns=delete_patterns,
            ignore_patterns=sorted(HOUSEKEEPING),  # kcli's own output marker and lock stay local
        )
    return {"repo_id": repo_id, "repo_url": str(repo_url), "commit_url": getattr(commit, "commit_url", None)}


@contextmanager
def _hub_errors(repo_id: str, token: str) -> Iterator[None]:
    """Turn the Hub client's exceptions into one-line :class:`HubError` messages without the token."""
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    endpoint = constants.ENDPOINT
    try:
        yield
    except OfflineModeIsEnabled:
        raise HubError(_offline_message(repo_id)) from None
    except HfHubHTTPError as exc:
        raise HubError(_redact(_http_message(exc, endpoint, repo_id), token)) from None
    except (ConnectionError, TimeoutError, *hub_transport_errors()) as exc:
        detail = _redact(str(exc).splitlines()[0] if str(exc) else "", token)
        raise HubError(
            f"cannot reach the Hugging Face Hub at {endpoint} ({type(exc).__name__}: {detail}); "
            "check the network or HF_ENDPOINT, or export locally with --to DIR"
        ) from None


def _offline_message(repo_id: str) -> str:
    return (
        f"the Hugging Face Hub is unreachable: offline mode is on (HF_HUB_OFFLINE=1); unset it to upload to "
        f"{repo_id}, or export locally with --to DIR"
    )


def _http_message(exc: Any, endpoint: str, repo_id: str) -> str:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status == 401:
        return f"the Hub at {endpoint} rejected the token (HTTP 401); run `hf auth login` or set HF_TOKEN"
    if status == 403:
        return f"the token has no write access to {repo_id} on {endpoint} (HTTP 403); use one with write permission"
    server = getattr(exc, "server_message", None) or str(exc).splitlines()[0]
    return f"the Hub at {endpoint} refused the upload to {repo_id} (HTTP {status}): {server}"



def _redact(text: str, token: str) -> str:
    return text.replace(token, "hf_***") if token else text
