"""Downloading SAE files from the Hugging Face hub (cached by `huggingface_hub`)."""

from __future__ import annotations

from pathlib import Path

from saebench.errors import SAELoadError


def fetch_files(repo_id: str, filenames: list[str], revision: str | None = None) -> list[Path]:
    """Download (or reuse from the HF cache) `filenames` of `repo_id`; clear error if unreachable."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

    paths = []
    for name in filenames:
        try:  # LocalEntryNotFoundError subclasses EntryNotFoundError: catch it first
            paths.append(Path(hf_hub_download(repo_id=repo_id, filename=name, revision=revision)))
        except LocalEntryNotFoundError as e:
            raise SAELoadError(f"Cannot fetch {name!r} from hub repository {repo_id!r}: the hub is unreachable "
                               "and the file is not in the local Hugging Face cache. Download it where the hub "
                               "is reachable, or point `path:` at a local folder.") from e
        except EntryNotFoundError as e:
            raise SAELoadError(f"File {name!r} not found in hub repository {repo_id!r} "
                               f"(revision {revision or 'main'}).") from e
        except (HfHubHTTPError, OSError, ValueError) as e:
            raise SAELoadError(f"Cannot fetch {name!r} from hub repository {repo_id!r}: {e}") from e
    return paths


def fetch_optional(repo_id: str, filename: str, revision: str | None = None) -> Path | None:
    """Like `fetch_files` for one file that may legitimately be absent (returns None then)."""
    try:
        return fetch_files(repo_id, [filename], revision)[0]
    except SAELoadError:
        return None
