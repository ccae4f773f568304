"""The S3 artifact store against a real moto_server on 127.0.0.1 that the tests start and stop."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from lamini_assets.artifacts import PUBLISHED_MARKER, ArtifactStoreError, S3ArtifactStore, S3Location
from lamini_assets.config import ConfigError, load_config
from lamini_assets.defs.resources import PipelineConfigResource
from lamini_assets.sources import SourceSpec
from lamini_assets.sources.registry import load_source
from tests.support.services import MotoS3, moto_s3, s3_bucket  # noqa: F401  (fixtures)
from tests.support.webserver import free_port

from tests.support.paths import SHARED_DATA


def make_store(moto_s3: MotoS3, bucket: str, tmp_path: Path, prefix: str = "runs/a") -> S3ArtifactStore:
    location = S3Location(bucket=bucket, prefix=prefix, endpoint_url=moto_s3.endpoint_url)
    return S3ArtifactStore(moto_s3.client(), location, tmp_path / "cache")


def test_objects_round_trip_under_the_prefix(moto_s3: MotoS3, s3_bucket: str, tmp_path: Path) -> None:
    store = make_store(moto_s3, s3_bucket, tmp_path)
    assert not store.exists("lamini_dataset/latest")
    assert store.write_bytes("lamini_dataset/latest", b"v1") == f"s3://{s3_bucket}/runs/a/lamini_dataset/latest"
    store.write_bytes("lamini_dataset/latest", b"v2")
    assert store.read_bytes("lamini_dataset/latest") == b"v2"
    assert store.exists("lamini_dataset/latest")
    keys = [item["Key"] for item in moto_s3.client().list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert keys == ["runs/a/lamini_dataset/latest"]
    with pytest.raises(FileNotFoundError, match=f"s3://{s3_bucket}/runs/a/nothing"):
        store.read_bytes("nothing")
    with pytest.raises(ValueError):
        store.uri("../outside")


def test_published_folder_is_absent_until_its_marker_and_immutable(moto_s3: MotoS3, s3_bucket: str, tmp_path: Path) -> None:
    store = make_store(moto_s3, s3_bucket, tmp_path)

    def build(folder: Path) -> None:
        (folder / "card.md").write_text("# v1")
        (folder / "hf_dataset").mkdir()
        (folder / "hf_dataset" / "data.arrow").write_bytes(b"x" * 10_000)

    # The upload dies after its first file: a crash between files, as a killed process leaves it.
    uploads: list[str] = []
    real_upload = store._upload

    def dying_upload(path: Path, object_key: str) -> None:
        if uploads:
            raise OSError("connection reset mid-upload")
        uploads.append(object_key)
        real_upload(path, object_key)

    store._upload = dying_upload  # type: ignore[method-assign]
    with pytest.raises(OSError):
        store.publish_dir("lamini_dataset/v1", build)
    leftovers = [item["Key"] for item in moto_s3.client().list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert leftovers == uploads  # a half-uploaded folder is there...
    assert not store.exists("lamini_dataset/v1")  # ...but absent to every reader
    with pytest.raises(FileNotFoundError, match="marker"):
        with store.local_dir("lamini_dataset/v1"):
            pass

    store._upload = real_upload  # type: ignore[method-assign]
    uri = store.publish_dir("lamini_dataset/v1", build)
    assert uri == f"s3://{s3_bucket}/runs/a/lamini_dataset/v1"
    assert store.exists("lamini_dataset/v1")
    keys = {item["Key"] for item in moto_s3.client().list_objects_v2(Bucket=s3_bucket)["Contents"]}
    assert keys == {f"runs/a/lamini_dataset/v1/{name}" for name in ("card.md", "hf_dataset/data.arrow", PUBLISHED_MARKER)}

    def must_not_run(folder: Path) -> None:
        raise AssertionError("a published folder is never rebuilt")

    assert store.publish_dir("lamini_dataset/v1", must_not_run) == uri
    with store.local_dir("lamini_dataset/v1") as local:
        assert (local / "card.md").read_text() == "# v1"
        assert (local / "hf_dataset" / "data.arrow").stat().st_size == 10_000
        assert local.is_relative_to(tmp_path / "cache")

    # Immutable, so the cached copy is used again without a download.
    store._download = lambda *args: pytest.fail("downloaded twice")  # type: ignore[method-assign]
    with store.local_dir("lamini_dataset/v1") as again:
        assert again == local


def test_duckdb_scans_parquet_where_it_lives(moto_s3: MotoS3, s3_bucket: str, tmp_path: Path) -> None:
    """28k real P3 rows, written as parquet to S3 and queried by DuckDB through pyarrow's S3 filesystem."""
    spec = SourceSpec(name="p3", format="p3_templates", path=str(SHARED_DATA / "p3_t0_sample"))
    rows = load_source(spec, SHARED_DATA).rows
    assert rows.height > 20_000
    store = make_store(moto_s3, s3_bucket, tmp_path)
    store.publish_dir("seeds/v1", lambda folder: rows.write_parquet(folder / "seeds.parquet", row_group_size=4096))

    dataset = store.parquet_dataset("seeds/v1/seeds.parquet")  # noqa: F841  (DuckDB reads the local by name)
    with duckdb.connect() as conn:
        per_template = conn.execute(
            "select template, count(*) as n from dataset group by template order by template"
        ).pl()
        (biggest,) = conn.execute("select max(length(instruction)) from dataset").fetchone()
    expected = rows.group_by("template").len("n").sort("template")
    assert per_template.cast({"n": pl.UInt32}).equals(expected)
    assert biggest == rows["instruction"].str.len_chars().max()
    assert not (tmp_path / "cache").exists()  # scanned in place, not downloaded


def test_wrong_bucket_names_the_bucket_and_the_setting(moto_s3: MotoS3, s3_bucket: str, tmp_path: Path) -> None:
    store = make_store(moto_s3, "no-such-s3_bucket-here", tmp_path)
    with pytest.raises(ArtifactStoreError) as raised:
        store.exists("lamini_dataset/latest")  # a missing bucket must not look like an empty store
    message = str(raised.value)
    assert "'no-such-s3_bucket-here' does not exist" in message
    assert "storage.artifacts_uri: s3://no-such-s3_bucket-here/runs/a" in message


def test_unreachable_endpoint_names_the_endpoint_bucket_and_setting(s3_bucket: str, tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    config_path = tmp_path / "pipeline.yaml"
    config_path.write_text(
        "sources: []\n"
        f"storage: {{artifacts_uri: 's3://{s3_bucket}/lamini', s3_endpoint_url: '{endpoint}'}}\n"
    )
    store = PipelineConfigResource(config_path=str(config_path)).load().artifact_store()
    with pytest.raises(ArtifactStoreError) as raised:
        store.write_bytes("lamini_dataset/latest", b"v1")
    message = str(raised.value)
    assert f"cannot reach the S3 endpoint {endpoint}" in message
    assert f"bucket '{s3_bucket}'" in message
    assert "storage.s3_endpoint_url" in message


def test_config_switch_selects_s3_with_the_s3_resource_client(moto_s3: MotoS3, s3_bucket: str, tmp_path: Path) -> None:
    config_path = tmp_path / "pipeline.yaml"
    config_path.write_text(
        "sources: []\n"
        f"storage: {{artifacts_uri: 's3://{s3_bucket}/lamini/', s3_endpoint_url: '{moto_s3.endpoint_url}', s3_region: eu-west-1}}\n"
    )
    config = PipelineConfigResource(config_path=str(config_path)).load()
    store = config.artifact_store()
    assert isinstance(store, S3ArtifactStore)
    assert store.client.meta.region_name == "eu-west-1"
    assert store.cache_dir == config.state_dir / "artifact_cache"
    assert store.write_bytes("reports/r.md", b"ok") == f"s3://{s3_bucket}/lamini/reports/r.md"
    assert load_config(config_path).artifact_store().read_bytes("reports/r.md") == b"ok"  # boto3 outside Dagster

    config_path.write_text("sources: []\nstorage: {artifacts_uri: 'bucket/prefix'}\n")
    with pytest.raises(ConfigError, match="storage.artifacts_uri: .*s3://bucket/prefix"):
        load_config(config_path)
