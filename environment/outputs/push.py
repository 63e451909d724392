"""Pushing a dataset to the Hugging Face Hub.

What goes up is the `hf` export (parquet with the images embedded, and the dataset card):
a run folder is exported first, an export folder goes as it is. huggingface_hub does the
uploading; the token is the library's own (HF_TOKEN, or what `hf auth login` saved) and we
never write it anywhere. The export is the same bytes for the same run, so a second push of
the same data finds every file unchanged and makes no commit.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from environment.errors import UserInputError
from environment.outputs.export import export

REPO_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}")


@dataclass(frozen=True)
class PushOutcome:
    repo: str
    revision: str
    commit_url: str
    changed: bool  # False: every file was already there, no commit made
    files: int


def push(source: Path, repo: str, *, private: bool, revision: str | None) -> PushOutcome:
    """Uploads `source` (a run folder or an hf export folder) to the dataset repo `repo`."""
    if not REPO_NAME.fullmatch(repo):
        raise UserInputError(f"--repo {repo}: give OWNER/NAME, e.g. my-lab/table-qa")
    try:
        import huggingface_hub
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError:
        raise UserInputError(
            "push needs huggingface_hub: pip install 'modswap[hf]' (make setup installs it)"
        ) from None
    token = huggingface_hub.get_token()
    if not token:
        raise UserInputError(
            "push needs a Hugging Face token with write access: set HF_TOKEN, or run "
            "`hf auth login` once"
        )
    # Its own notes ("No files have been modified…") say less than our one line does.
    huggingface_hub.utils.logging.set_verbosity_error()
    api = huggingface_hub.HfApi(token=token)
    branch = revision or "main"
    with tempfile.TemporaryDirectory(prefix="modswap-push-") as scratch:
        folder = _export_folder(source, Path(scratch))
        files = sum(1 for path in folder.rglob("*") if path.is_file())
        try:
            api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
            before = _head(api, repo, branch)
            if branch != "main":
                api.create_branch(repo, branch=branch, repo_type="dataset", exist_ok=True)
            info = api.upload_folder(
                folder_path=folder,
                repo_id=repo,
                repo_type="dataset",
                revision=branch,
                commit_message=f"modswap: {source.name}",
                delete_patterns=["data/*"],  # shards of an earlier, larger push
            )
        except HfHubHTTPError as error:
            raise UserInputError(_http_problem(error, repo, api.endpoint)) from None
        except OSError as error:  # the Hub cannot be reached (requests' errors are OSErrors)
            raise UserInputError(
                f"cannot reach the Hub at {api.endpoint} ({type(error).__name__}); check the "
                "network or HF_ENDPOINT"
            ) from None
    return PushOutcome(repo, branch, str(info.commit_url), info.oid != before, files)


def _export_folder(source: Path, scratch: Path) -> Path:
    """The hf export to upload: made from a run folder, or `source` if it is one."""
    if (source / "run.json").is_file():
        out = scratch / "export"
        export(source, "hf", out)
        return out
    if (source / "README.md").is_file() and any((source / "data").glob("*.parquet")):
        return source
    raise UserInputError(
        f"{source}: neither a run folder (run.json) nor an hf export (README.md and "
        "data/*.parquet); push takes either"
    )


def _head(api: object, repo: str, branch: str) -> str | None:
    """The branch's commit before the push (None for a new branch)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RevisionNotFoundError

    assert isinstance(api, HfApi)
    try:
        return api.repo_info(repo, repo_type="dataset", revision=branch).sha
    except RevisionNotFoundError:
        return None


def _http_problem(error: Exception, repo: str, endpoint: str) -> str:
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    if status == 401:
        return (
            f"the Hub at {endpoint} refused the token (HTTP 401): set HF_TOKEN to a valid "
            "token with write access"
        )
    if status == 403:
        return (
            f"the token cannot write to {repo} (HTTP 403): use a token with write access "
            "to that namespace, or a repo of your own"
        )
    first = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
    return f"push to {repo} failed (HTTP {status}): {first}"
