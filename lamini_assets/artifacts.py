"""Where large artifacts live (dataset versions, embeddings, figures, reports, checkpoints, manifests).

One small interface so that every stage writes through the same seam: a local folder by default
(`storage.artifacts_dir` under the state folder), or an S3 bucket (`storage.artifacts_uri:
s3://bucket/prefix`, any S3-compatible endpoint). Keys are '/'-separated relative paths such as
`lamini_dataset/<version>/dataset_card.md`.

The folder contract, the same on both stores: a folder published with `publish_dir` is immutable and
appears all at once. Locally that is a rename. S3 has no rename, so the files are uploaded in place and
a marker object (`_lamini_published.json`, holding the manifest of file names and sizes) is written
LAST: a folder without its marker is absent to every reader (`exists` is False, `local_dir` raises),
whatever files a crashed upload left there, and a later `publish_dir` builds and uploads it again.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import botocore.exceptions

if TYPE_CHECKING:  # pyarrow.dataset pulls pandas: ~1 s that `lamini-audit` and config loading skip
    import pyarrow.dataset as pa_dataset
    import pyarrow.fs as pa_fs


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

    def parquet_dataset(self, key: str) -> pa_dataset.Dataset:
        """A parquet file (or folder of them) where it lives, for DuckDB to scan without copying it here."""
        ...


class LocalArtifactStore:
    """Artifacts in a local folder. Atomicity comes from os.replace / rename within one filesystem."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / checked_key(key)

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
            try:
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
            except BaseException as error:  # e.g. a full disk: the old bytes stay, no temp file is left
                os.unlink(tmp.name)
                if isinstance(error, OSError):
                    error.add_note(f"artifact {key!r} was not written; {target} keeps its previous content")
                raise
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
        except OSError as error:
            shutil.rmtree(staging, ignore_errors=True)
            if target.exists():  # another writer published the same immutable folder first
                return str(target)
            error.add_note(f"artifact folder {key!r} was not published; nothing is left at {target}")
            raise
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return str(target)

    @contextmanager
    def local_dir(self, key: str) -> Iterator[Path]:
        path = self.path(key)
        if not path.exists():
            raise FileNotFoundError(f"no artifact at {path}")
        yield path

    def parquet_dataset(self, key: str) -> pa_dataset.Dataset:
        import pyarrow.dataset as pa_dataset

        return pa_dataset.dataset(self.path(key), format="parquet")


def checked_key(key: str) -> str:
    """A key must stay inside the store: relative, no '..', no empty parts."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(part in {"", ".", ".."} for part in parts):
        raise ValueError(f"artifact key must be a relative path inside the store: {key!r}")
    return key


PUBLISHED_MARKER = "_lamini_published.json"


class ArtifactStoreError(RuntimeError):
    """The store cannot be used at all (unreachable endpoint, missing bucket, no access); names the setting."""


@dataclass(frozen=True)
class S3Location:
    """Where an S3 store lives, and which config settings named it (quoted in every error)."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region_name: str | None = None
    uri_setting: str = "storage.artifacts_uri"
    endpoint_setting: str = "storage.s3_endpoint_url"

    @classmethod
    def parse(cls, uri: str, **settings: Any) -> "S3Location":
        """`s3://bucket/prefix` -> bucket and prefix (no leading or trailing slash)."""
        if not uri.startswith("s3://") or not uri[len("s3://"):].split("/", 1)[0]:
            raise ValueError(f"an S3 artifacts URI looks like s3://bucket/prefix, got {uri!r}")
        bucket, _, prefix = uri[len("s3://"):].partition("/")
        return cls(bucket=bucket, prefix=prefix.strip("/"), **settings)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")


class S3ArtifactStore:
    """Artifacts in an S3 bucket under a prefix, through a boto3 S3 client passed in by the caller.

    Single objects: one PUT is atomic in S3 (readers see the old bytes or the new). Folders: see the
    module docstring (files in place, then the manifest marker last). Two writers publishing the same
    key at once upload the same content (keys name content) and both write the marker; files of a
    crashed attempt that the new build does not have stay as unlisted leftovers, ignored by readers.
    `local_dir` downloads a published folder once into `cache_dir` (folders are immutable, so a
    complete cached copy stays valid).
    """

    def __init__(self, client: Any, location: S3Location, cache_dir: Path | str) -> None:
        self.client = client
        self.location = location
        self.cache_dir = Path(cache_dir)
        self._bucket_checked = False

    # -- naming -------------------------------------------------------------------------------
    def object_key(self, key: str) -> str:
        key = checked_key(key)
        return f"{self.location.prefix}/{key}" if self.location.prefix else key

    def uri(self, key: str) -> str:
        return f"s3://{self.location.bucket}/{self.object_key(key)}"

    # -- the interface ------------------------------------------------------------------------
    def exists(self, key: str) -> bool:
        return self._head(self.object_key(key)) or self._head(self._marker_key(key))

    def read_bytes(self, key: str) -> bytes:
        try:
            response = self._call("get_object", Key=self.object_key(key))
        except _NotFound:
            raise FileNotFoundError(f"no artifact at {self.uri(key)}") from None
        return response["Body"].read()

    def write_bytes(self, key: str, data: bytes) -> str:
        self._call("put_object", Key=self.object_key(key), Body=data)
        return self.uri(key)

    def publish_dir(self, key: str, build: Callable[[Path], None]) -> str:
        folder_uri = self.uri(key)
        if self._head(self._marker_key(key)):
            return folder_uri
        with tempfile.TemporaryDirectory(prefix="lamini-publish-") as staging_name:
            staging = Path(staging_name)
            build(staging)
            files = sorted(path for path in staging.rglob("*") if path.is_file())
            manifest = {path.relative_to(staging).as_posix(): path.stat().st_size for path in files}
            if PUBLISHED_MARKER in manifest:
                raise ValueError(f"{folder_uri}: a published folder cannot contain a file named {PUBLISHED_MARKER}")
            for relative in manifest:
                self._upload(staging / relative, f"{self.object_key(key)}/{relative}")
        # The marker goes last: until it exists the folder is absent to every reader.
        marker = json.dumps({"files": manifest}, sort_keys=True).encode("utf-8")
        self._call("put_object", Key=self._marker_key(key), Body=marker)
        return folder_uri

    @contextmanager
    def local_dir(self, key: str) -> Iterator[Path]:
        manifest = self._manifest(key)
        target = self.cache_dir / self.location.bucket / self.object_key(key)
        complete = target / PUBLISHED_MARKER
        if not (complete.is_file() and json.loads(complete.read_text(encoding="utf-8")) == manifest):
            self._download(key, manifest, target)
        yield target

    def parquet_dataset(self, key: str) -> pa_dataset.Dataset:
        import pyarrow.dataset as pa_dataset

        self._check_bucket()
        return pa_dataset.dataset(
            f"{self.location.bucket}/{self.object_key(key)}", format="parquet", filesystem=self.arrow_filesystem()
        )

    # -- helpers ------------------------------------------------------------------------------
    def arrow_filesystem(self) -> pa_fs.S3FileSystem:
        """pyarrow's S3 filesystem with this client's endpoint, region and credentials."""
        import pyarrow.fs as pa_fs

        credentials = self.client._get_credentials()  # botocore resolves the same chain boto3 uses
        frozen = credentials.get_frozen_credentials() if credentials is not None else None
        endpoint = self.client.meta.endpoint_url
        return pa_fs.S3FileSystem(
            access_key=frozen.access_key if frozen else None,
            secret_key=frozen.secret_key if frozen else None,
            session_token=frozen.token if frozen else None,
            anonymous=frozen is None,
            region=self.client.meta.region_name or "us-east-1",
            endpoint_override=endpoint if self.location.endpoint_url else None,
            scheme="http" if endpoint.startswith("http://") else "https",
            connect_timeout=10,
            request_timeout=60,
        )

    def _marker_key(self, key: str) -> str:
        return f"{self.object_key(key)}/{PUBLISHED_MARKER}"

    def _manifest(self, key: str) -> dict[str, int]:
        try:
            body = self._call("get_object", Key=self._marker_key(key))["Body"].read()
        except _NotFound:
            raise FileNotFoundError(
                f"no published folder at {self.uri(key)} (its marker {PUBLISHED_MARKER} is missing: "
                "never published, or the upload did not finish)"
            ) from None
        return json.loads(body)["files"]

    def _download(self, key: str, manifest: dict[str, int], target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
        try:
            for relative, size in manifest.items():
                destination = staging / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                self._call_transfer("download_file", self.location.bucket, f"{self.object_key(key)}/{relative}", str(destination))
                if destination.stat().st_size != size:
                    raise ArtifactStoreError(
                        f"{self.uri(key)}/{relative}: {destination.stat().st_size} bytes, the manifest says {size}"
                    )
            (staging / PUBLISHED_MARKER).write_text(json.dumps(manifest, sort_keys=True), encoding="utf-8")
            shutil.rmtree(target, ignore_errors=True)  # an incomplete copy from an interrupted download
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _upload(self, path: Path, object_key: str) -> None:
        self._call_transfer("upload_file", str(path), self.location.bucket, object_key)

    def _head(self, object_key: str) -> bool:
        try:
            self._call("head_object", Key=object_key)
        except _NotFound:
            return False
        return True

    def _check_bucket(self) -> None:
        # HEAD on a missing bucket's object is a plain 404 too, so the bucket is checked once first:
        # otherwise a wrong bucket would look like an empty store.
        if self._bucket_checked:
            return
        try:
            self.client.head_bucket(Bucket=self.location.bucket)
        except Exception as error:  # noqa: BLE001  (translated, or re-raised below)
            code = _error_code(error)
            if code in {"404", "NoSuchBucket", "NotFound"}:
                raise ArtifactStoreError(
                    f"S3 bucket {self.location.bucket!r} does not exist at {self._endpoint()} "
                    f"(set {self.location.uri_setting}: {self.location.uri})"
                ) from error
            if code in {"403", "AccessDenied", "Forbidden"}:
                raise ArtifactStoreError(
                    f"no access to S3 bucket {self.location.bucket!r} at {self._endpoint()} with the credentials "
                    f"found (AWS_ACCESS_KEY_ID/AWS_PROFILE or an instance role; {self.location.uri_setting}: "
                    f"{self.location.uri})"
                ) from error
            raise self._translated(error) from error
        self._bucket_checked = True

    def _call(self, operation: str, **arguments: Any) -> Any:
        self._check_bucket()
        try:
            return getattr(self.client, operation)(Bucket=self.location.bucket, **arguments)
        except Exception as error:  # noqa: BLE001
            if _error_code(error) in {"404", "NoSuchKey", "NotFound"}:
                raise _NotFound() from error
            raise self._translated(error) from error

    def _call_transfer(self, operation: str, *arguments: str) -> None:
        self._check_bucket()
        try:
            getattr(self.client, operation)(*arguments)
        except Exception as error:  # noqa: BLE001
            raise self._translated(error) from error

    def _endpoint(self) -> str:
        return self.client.meta.endpoint_url

    def _translated(self, error: Exception) -> Exception:
        if isinstance(error, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError)):
            return ArtifactStoreError(
                f"cannot reach the S3 endpoint {self._endpoint()} for bucket {self.location.bucket!r} "
                f"(set {self.location.endpoint_setting} for an S3-compatible store; {self.location.uri_setting}: "
                f"{self.location.uri}): {error}"
            )
        if isinstance(error, botocore.exceptions.NoCredentialsError):
            return ArtifactStoreError(
                f"no AWS credentials for S3 bucket {self.location.bucket!r} ({self.location.uri_setting}): set "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or use an instance role"
            )
        return error


class _NotFound(Exception):
    """A missing object (404), told apart from every other failure."""


def _error_code(error: Exception) -> str:
    if isinstance(error, botocore.exceptions.ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""
