"""Training stage: the split of a dataset version, the evaluation-only guard, and one checkpoint per student.

Training runs outside this process, in `python -m lamini_assets.training.train`, launched through
Dagster Pipes by `defs/remote.py:run_pipes_script` where `compute:` says (a subprocess here; a
Kubernetes pod or an ECS task on a GPU host), as evaluation is.
"""

import io
import json
from datetime import datetime, timezone
from typing import Any

import dagster as dg
import polars as pl
from dagster_aws.s3 import S3Resource
from dagster_duckdb import DuckDBResource

from lamini_assets.config import PipelineConfig
from lamini_assets.defs import remote
from lamini_assets.defs.metadata import counts_metadata, table_metadata
from lamini_assets.defs.resources import PipelineConfigResource
from lamini_assets.training.inputs import read_latest_dataset
from lamini_assets.training.job import TrainingJob, checkpoint_id, code_version, config_hash
from lamini_assets.training.split import (
    SEEN_SPLITS,
    leaked_rows,
    load_evaluation_only,
    split_dataset,
    split_hash,
)
from lamini_assets.warehouse import read_table, replace_partition

SPLIT_POINTER_KEY = "train_split/latest.json"  # which split artifact the newest train_split wrote
MANIFEST_COLUMNS = ("student", "checkpoint_id", "dataset_version", "row_id", "instruction_id", "instruction_source", "split")


def _parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def _current_split(config: PipelineConfig) -> tuple[dict[str, str], pl.DataFrame]:
    store = config.artifact_store()
    if not store.exists(SPLIT_POINTER_KEY):
        raise dg.Failure("train_split has not been materialised yet")
    pointer = json.loads(store.read_bytes(SPLIT_POINTER_KEY))
    # One object (not a published folder): read it whole, from a folder or a bucket alike.
    return pointer, pl.read_parquet(io.BytesIO(store.read_bytes(pointer["key"])))


@dg.asset(
    deps=["lamini_dataset"],
    group_name="training",
    kinds={"duckdb", "parquet"},
    description=(
        "A seeded train/validation/test split of the newest lamini_dataset version, stratified by "
        "instruction_source and recorded by row_id. Evaluation-only instructions (Self-Instruct's "
        "user-oriented set, configured evaluation sets) are kept out of every split and counted."
    ),
)
def train_split(pipeline: PipelineConfigResource, duckdb: DuckDBResource) -> dg.MaterializeResult:
    config = pipeline.load()
    store = config.artifact_store()
    version, dataset = read_latest_dataset(store)
    evaluation_only = load_evaluation_only(config.training.evaluation_only)
    split = split_dataset(dataset, version, config.training.split, evaluation_only)
    settings = split_hash(config.training.split, evaluation_only)
    key = f"train_split/{version}/{settings}/train_split.parquet"
    store.write_bytes(key, _parquet_bytes(split.rows))
    store.write_bytes(SPLIT_POINTER_KEY, json.dumps({"dataset_version": version, "split_hash": settings, "key": key}).encode())
    with duckdb.get_connection() as conn:
        replace_partition(conn, "train_split", split.table, {"dataset_version": version})
    excluded = split.excluded.select("row_id", "instruction_source", "instruction").head(10)
    return dg.MaterializeResult(
        metadata={
            **table_metadata(split.table, "train_split"),
            **counts_metadata(split.counts),
            "dataset_version": version,
            "split_hash": settings,
            "split_uri": dg.MetadataValue.path(store.uri(key)),
            **counts_metadata(evaluation_only.sizes, prefix="evaluation_only_items/"),
            "excluded_evaluation_only_preview": dg.MetadataValue.md(
                excluded.to_pandas().to_markdown(index=False) if excluded.height else "(none)"
            ),
        },
        data_version=dg.DataVersion(f"{version}-{settings}"),
    )


@dg.asset_check(
    asset=train_split,
    blocking=True,
    description=(
        "No evaluation-only instruction (by normalised text or instruction_id) is in a train or validation "
        "split, against the evaluation sets configured now. Blocking: students do not train on a leaked split."
    ),
)
def evaluation_only_not_in_training(pipeline: PipelineConfigResource, duckdb: DuckDBResource) -> dg.AssetCheckResult:
    config = pipeline.load()
    pointer, rows = _current_split(config)
    with duckdb.get_connection() as conn:
        table = read_table(conn, "train_split").filter(pl.col("dataset_version") == pointer["dataset_version"])
    # The table is what lineage trusts, the artifact is what trains: check the table's rows with their text.
    texts = rows.select("row_id", "instruction", "task_instruction")
    leaked = leaked_rows(table.join(texts, on="row_id", how="left"), load_evaluation_only(config.training.evaluation_only))
    preview = leaked.select("row_id", "split", "instruction_source", "instruction").head(10)
    return dg.AssetCheckResult(
        passed=leaked.height == 0,
        metadata={
            "leaked_rows": leaked.height,
            "checked_rows": table.height,
            "dataset_version": pointer["dataset_version"],
            "leaked_preview": dg.MetadataValue.md(preview.to_pandas().to_markdown(index=False) if leaked.height else "(none)"),
        },
    )


def training_job(config: PipelineConfig, student: str, run_id: str) -> tuple[TrainingJob, pl.DataFrame]:
    """The job that trains `student` on the current split, and the rows it will see (for the manifest)."""
    spec = next(spec for spec in config.students if spec.name == student)
    pointer, rows = _current_split(config)
    code = code_version()
    identifier = checkpoint_id(spec, pointer["dataset_version"], pointer["split_hash"], code)
    scratch = remote.work_dir(config)
    job = TrainingJob(
        student=spec.model_dump(mode="json"),
        store_root=remote.store_root(config),
        split_key=pointer["key"],
        work_dir=str(scratch / "training_runs" / spec.name / identifier),
        cache_dir=str(scratch / config.storage.artifact_cache_dir),
        dataset_version=pointer["dataset_version"],
        checkpoint_id=identifier,
        code_version=code,
        config_hash=config_hash(spec),
        split_hash=pointer["split_hash"],
        run_id=run_id,
    )
    seen = rows.filter(pl.col("instruction_source").is_in(spec.sources) & pl.col("split").is_in(list(SEEN_SPLITS)))
    return job, seen


def _metadata_values(result: dg.MaterializeResult) -> dict[str, Any]:
    return {name: getattr(value, "value", value) for name, value in (result.metadata or {}).items()}


def build_student_checkpoints(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        deps=["train_split"],
        partitions_def=partitions_def,
        group_name="training",
        kinds={"pytorch", "huggingface"},
        code_version=code_version(),
        description=(
            "One fine-tuned checkpoint per student (HF save_pretrained folder with safetensors, tokenizer and "
            "model card) at checkpoints/<student>/<checkpoint_id>/, trained by the standalone script through "
            "Dagster Pipes; its rows are in training_manifest, its lineage in student_checkpoints."
        ),
    )
    def student_checkpoints(
        context: dg.AssetExecutionContext, pipeline: PipelineConfigResource, duckdb: DuckDBResource, s3: S3Resource
    ) -> dg.MaterializeResult:
        config = pipeline.load()
        job, seen = training_job(config, context.partition_key, context.run.run_id)
        context.log.info(f"training {job.checkpoint_key} on {seen.height} rows of dataset {job.dataset_version}")
        invocation = remote.run_pipes_script(
            context, config, ["-m", "lamini_assets.training.train", "--job", job.to_json()],
            s3_client=s3.get_client() if config.compute.channel == "s3" else None,
            env={"TOKENIZERS_PARALLELISM": "false"},
        )
        reported = invocation.get_materialize_result()
        summary = _metadata_values(reported)["summary"]
        spec = job.spec
        checkpoint_row = pl.DataFrame([{
            "student": spec.name, "checkpoint_id": job.checkpoint_id, "family": spec.family, "base": spec.base,
            "dataset_version": job.dataset_version, "uri": summary["uri"], "base_uri": summary["base_uri"],
            "created_at": datetime.now(timezone.utc), "run_id": summary["run_id"], "config_hash": job.config_hash,
            "code_version": job.code_version, "hyperparameters": json.dumps(summary["hyperparameters"], sort_keys=True),
            "train_loss": float(summary["train_loss"]),
            "validation_loss": None if summary["validation_loss"] is None else float(summary["validation_loss"]),
        }], schema_overrides={"base_uri": pl.String, "validation_loss": pl.Float64})
        manifest = seen.with_columns(
            pl.lit(spec.name).alias("student"), pl.lit(job.checkpoint_id).alias("checkpoint_id")
        ).select(MANIFEST_COLUMNS)
        key = {"student": spec.name, "checkpoint_id": job.checkpoint_id}
        with duckdb.get_connection() as conn:
            replace_partition(conn, "student_checkpoints", checkpoint_row, key)
            replace_partition(conn, "training_manifest", manifest, key)
        by_split = dict(manifest.group_by("split").len().iter_rows())
        return dg.MaterializeResult(
            metadata={
                **(reported.metadata or {}),
                "run_id": summary["run_id"],
                "hyperparameters": dg.MetadataValue.json(summary["hyperparameters"]),
                "manifest_rows": manifest.height,
                **counts_metadata(by_split, prefix="manifest_rows/"),
                "dagster/table_name": "main.training_manifest",
            },
            data_version=dg.DataVersion(job.checkpoint_id),
        )

    return student_checkpoints
