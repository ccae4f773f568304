"""Where large artifacts live (dataset versions, embeddings, figures, reports, checkpoints, manifests).

One small interface so that every stage writes through the same seam: a local folder by default
(`storage.artifacts_dir` under the state folder); an S3 implementation can stand behind the same
methods. Keys are '/'-separated relative paths such as `lamini_dataset/<version>/dataset_card.md`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol


class ArtifactStore(Protocol):
    """The operations every stage needs from an artifact store."""

    def uri(self, key: str) -> str:
        """Where a key lives, for metadata and cards: a local path or an s3:// URI."""
        ...

    def exists(self, key: str) -> bool: ...

    def read_bytes(self, key: str) -> bytes: ...

    def write_bytes(self, key: str, data: bytes) -> str:
        """Write one object atomically (readers see the old bytes or the new, never half); returns its uri."""
        ...

    def publish_dir(self, key: str, build: Callable[[Path], None]) -> str:
        """Build a folder with `build(tmp_dir)` and publish it at `key` all at once; returns its uri.

        A crash inside `build` leaves nothing at `key`. An existing folder at `key` is kept as it is
        (folders are immutable once published) and `build` is not called.
        """
        ...

    @contextmanager
    def local_dir(self, key: str) -> Iterator[Path]:
        """A local folder holding the published folder at `key` (for readers such as DuckDB or HF)."""
        ...


class LocalArtifactStore:
    """Artifacts in a local folder. Atomicity comes from os.replace / rename within one filesystem."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        if key.startswith("/") or ".." in Path(key).parts:
            raise ValueError(f"artifact key must be a relative path inside the store: {key!r}")
        return self.root / key

    def uri(self, key: str) -> str:
        return str(self.path(key))

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def read_bytes(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def write_bytes(self, key: str, data: bytes) -> str:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp.name, target)
        return str(target)

    def publish_dir(self, key: str, build: Callable[[Path], None]) -> str:
        target = self.path(key)
        if target.exists():
            return str(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
        try:
            build(staging)
            staging.rename(target)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if target.exists():  # another writer published the same immutable folder first
                return str(target)
            raise
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return str(target)

    @contextmanager
    def local_dir(self, key: str) -> Iterator[Path]:
        yield self.path(key)
