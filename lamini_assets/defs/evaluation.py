"""Evaluation stage: scores per student (benchmarks through lm-eval, ROUGE-L, teacher judge), the
blinded human rating round trip, and the leaderboard."""

import base64
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
from dagster_aws.s3 import S3Resource
from dagster_duckdb import DuckDBResource

from lamini_assets.config import PipelineConfig
from lamini_assets.defs import remote
from lamini_assets.defs.metadata import table_metadata, teacher_metadata
from lamini_assets.defs.resources import TEACHER_POOL, PipelineConfigResource, TeacherResource
from lamini_assets.dataset import read_version
from lamini_assets.evaluation.benchmarks import resolve_tasks
from lamini_assets.evaluation.instruction import judge_answers
from lamini_assets.evaluation.items import DEFAULT_USER_ORIENTED, held_out_items, user_oriented_items
from lamini_assets.evaluation.leaderboard import build_leaderboard
from lamini_assets.evaluation.ratings import RATINGS_SCHEMA, export_sheet, import_sheet_file, rating_distribution
from lamini_assets.evaluation.runner import run_store_job
from lamini_assets.evaluation.scores import score_frame, answer_frame
from lamini_assets.generation.partitions import failure_rows
from lamini_assets.warehouse import read_table, replace_partition, replace_table, table_exists

def latest_checkpoint(conn: Any, student: str) -> dict[str, Any]:
    """The newest row of student_checkpoints for a student (the contract: latest wins)."""
    if not table_exists(conn, "student_checkpoints"):
        raise dg.Failure(f"eval_scores[{student}]: table student_checkpoints does not exist; materialise "
                         "student_checkpoints first")
    found = conn.execute("select * from main.student_checkpoints where student = ? order by created_at desc limit 1",
                         [student]).pl()
    if found.is_empty():
        raise dg.Failure(f"eval_scores[{student}]: no checkpoint of {student} in student_checkpoints")
    return found.row(0, named=True)


def _held_out_rows(conn: Any, store: Any, dataset_version: str) -> pl.DataFrame:
    """The checkpoint's held-out rows (train_split 'test') with instruction and teacher response, read
    from the exact dataset version it trained on (falling back to the lamini_dataset table)."""
    empty = pl.DataFrame(schema={"row_id": pl.String, "instruction": pl.String, "response": pl.String})
    if not table_exists(conn, "train_split"):
        return empty
    test_ids = conn.execute("select distinct row_id from main.train_split where split = 'test' and dataset_version = ?",
                            [dataset_version]).pl()
    try:
        rows = read_version(store, dataset_version)
    except FileNotFoundError:
        if not table_exists(conn, "lamini_dataset"):
            return empty
        rows = conn.execute("select row_id, instruction, response from main.lamini_dataset").pl()
    return rows.select("row_id", "instruction", "response").join(test_ids, on="row_id").sort("row_id")


def _job(config: PipelineConfig, checkpoint: dict[str, Any], items: dict[str, pl.DataFrame], output_key: str) -> dict[str, Any]:
    """The evaluation script's whole input: models by artifact key (read from the store where the script
    runs) or hub id, and where in the store to write its result."""
    key = f"checkpoints/{checkpoint['student']}/{checkpoint['checkpoint_id']}"
    models = [{"model_kind": "distilled", "key": key}]
    # The contract's base: a from_config student's untrained copy under base/, else the hub id or path.
    # It lives inside the published checkpoint folder, which is what the store can hand out whole.
    base = {"key": key, "subfolder": "base"} if checkpoint["base"] == "from_config" else {"path": checkpoint["base"]}
    models.insert(0, {"model_kind": "base", **base})
    store = config.artifact_store()
    return {
        "models": [{**m, "path": m.get("path") or "/".join(filter(None, [store.uri(m["key"]), m.get("subfolder")])), "student": checkpoint["student"],
                    "checkpoint_id": checkpoint["checkpoint_id"], "family": checkpoint["family"]} for m in models],
        "benchmarks": config.evaluation.benchmarks.model_dump(),
        "base_dir": str(config.base_dir),
        "instruction_sets": {name: frame.select("item_id", "instruction").to_dicts() for name, frame in items.items()},
        "max_new_tokens": config.evaluation.instruction_following.max_new_tokens,
        "store_root": remote.store_root(config),
        "cache_dir": str(remote.work_dir(config) / config.storage.artifact_cache_dir),
        "output_key": output_key,
    }


def _run_job(context: dg.AssetExecutionContext, config: PipelineConfig, job: dict, s3: S3Resource) -> dict:
    if config.evaluation.launcher == "in_process":
        return run_store_job(job, log=context.log.info)
    invocation = remote.run_pipes_script(
        context, config, ["-m", "lamini_assets.evaluation.run"], extras={"job": job},
        s3_client=s3.get_client() if config.compute.channel == "s3" else None,
    )
    if not invocation.get_custom_messages():
        raise dg.Failure("the evaluation script finished without reporting its output")
    return json.loads(config.artifact_store().read_bytes(job["output_key"]))


def _png_markdown(png: bytes, title: str) -> str:
    return f"![{title}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def build_evaluation_assets(student_partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """The evaluation assets over the configured students (the partitions training uses)."""

    @dg.asset(
        deps=["student_checkpoints"],
        partitions_def=student_partitions,
        pool=TEACHER_POOL,
        group_name="evaluation",
        kinds={"duckdb", "pytorch"},
        description=(
            "Scores of a student's latest checkpoint and of its untrained base: zero-shot lm-eval benchmarks "
            "(LaMini's suite offline over local files, or its 15 hub tasks), ROUGE-L against the teacher on "
            "the held-out split, and the teacher judge's A-D grades on Self-Instruct's user-oriented "
            "instructions. Runs `python -m lamini_assets.evaluation.run` through Dagster Pipes. Every row "
            "names its checkpoint and training-data version."
        ),
    )
    def eval_scores(context: dg.AssetExecutionContext, pipeline: PipelineConfigResource, duckdb: DuckDBResource,
                    teacher: TeacherResource, s3: S3Resource) -> dg.MaterializeResult:
        config = pipeline.load()
        student = context.partition_key
        settings = config.evaluation.instruction_following
        with duckdb.get_connection() as conn:
            checkpoint = latest_checkpoint(conn, student)
            held_out_rows = _held_out_rows(conn, config.artifact_store(), checkpoint["dataset_version"])
        user_path = config.resolve(settings.user_oriented_path) if settings.user_oriented_path else DEFAULT_USER_ORIENTED
        items = {"held_out": held_out_items(held_out_rows, settings.held_out_items),
                 "user_oriented": user_oriented_items(user_path, settings.user_oriented_items)}
        run_id = context.run.run_id
        output_key = f"evaluation/{student}/{checkpoint['checkpoint_id']}/{run_id}.json"
        result = _run_job(context, config, _job(config, checkpoint, items, output_key), s3)
        answers = answer_frame(result["answers"], items, checkpoint["dataset_version"], run_id)
        client = teacher.client(context.log.info)
        failures = failure_rows("eval_scores", student, [])
        stats = None
        user_answers = answers.filter(pl.col("item_set") == "user_oriented")
        if settings.judge and user_answers.height:
            judged = judge_answers(client, user_answers)
            stats = judged.stats
            failures = failure_rows("eval_scores", student, judged.failures)
            answers = answers.drop("grade", "grade_reason", "judge_cache_key").join(
                judged.grades.select("answer_id", pl.col("grade"), pl.col("reason").alias("grade_reason"),
                                     pl.col("cache_key").alias("judge_cache_key")),
                on="answer_id", how="left").select(answers.columns)
        created_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        tasks = resolve_tasks(config.evaluation.benchmarks, config.base_dir)
        scores = score_frame(result["scores"], tasks, answers, checkpoint["dataset_version"], created_at, run_id)
        with duckdb.get_connection() as conn:
            replace_partition(conn, "eval_scores", scores, {"student": student})
            replace_partition(conn, "student_answers", answers, {"student": student})
            replace_partition(conn, "teacher_failures", failures, {"asset": "eval_scores", "instruction_source": student})
        reported = scores.filter(pl.col("reported"))
        ungraded = int(user_answers.height and answers.filter(
            (pl.col("item_set") == "user_oriented") & pl.col("grade").is_null()).height)
        return dg.MaterializeResult(metadata={
            **table_metadata(scores, "eval_scores"),
            "checkpoint_id": checkpoint["checkpoint_id"],
            "checkpoint_uri": checkpoint["uri"],
            "dataset_version": checkpoint["dataset_version"],
            "scores": dg.MetadataValue.md(reported.select("model_kind", "task", "metric", "value", "n_items")
                                          .to_pandas().to_markdown(index=False)),
            "answers": answers.height,
            "judge/ungraded": ungraded,
            "judge/failed_calls": failures.height,
            "seconds": dg.MetadataValue.json(result.get("seconds", {})),
            "launcher": config.evaluation.launcher,
            "evaluation_pid": result["pid"],
            **(teacher_metadata(client, stats) if stats else {}),
        })

    @dg.asset(
        deps=[eval_scores],
        group_name="evaluation",
        kinds={"csv"},
        description=(
            "A blinded human rating sheet (CSV: export_id, row_id, item_id, system, instruction, answer, rating) "
            "over every model's answers to the user-oriented instructions, rows shuffled and systems anonymous. "
            "The key mapping systems to models is saved apart. Fill in `rating` (A-D) and list the file under "
            "evaluation.instruction_following.filled_sheets."
        ),
    )
    def rating_sheet(pipeline: PipelineConfigResource, duckdb: DuckDBResource) -> dg.MaterializeResult:
        config = pipeline.load()
        with duckdb.get_connection() as conn:
            answers = conn.execute("select * from main.student_answers where item_set = 'user_oriented'").pl()
        export = export_sheet(answers)
        store = config.artifact_store()
        sheet_uri = store.write_bytes(f"ratings/{export.export_id}/sheet.csv", export.sheet_csv.encode("utf-8"))
        key_uri = store.write_bytes(f"ratings/{export.export_id}/key.json", json.dumps(export.key, indent=1).encode("utf-8"))
        return dg.MaterializeResult(metadata={
            "export_id": export.export_id, "rows": len(export.key["rows"]), "systems": len(export.key["systems"]),
            "sheet": dg.MetadataValue.path(sheet_uri), "key (keep from raters)": dg.MetadataValue.path(key_uri),
        })

    @dg.asset(
        deps=[rating_sheet],
        group_name="evaluation",
        kinds={"duckdb", "csv"},
        description=(
            "Filled rating sheets imported: each is checked whole against its export's key (unknown or "
            "repeated rows, grades outside A-D, missing rows, another export's sheet fail naming the row), "
            "so a sheet is imported entirely or not at all."
        ),
    )
    def human_ratings(pipeline: PipelineConfigResource, duckdb: DuckDBResource) -> dg.MaterializeResult:
        config = pipeline.load()
        store = config.artifact_store()
        frames = []
        for sheet in config.evaluation.instruction_following.filled_sheets:
            try:
                frames.append(import_sheet_file(config.resolve(sheet), store))
            except ValueError as error:
                raise dg.Failure(str(error)) from error
        ratings = pl.concat(frames) if frames else pl.DataFrame(schema=RATINGS_SCHEMA)
        with duckdb.get_connection() as conn:
            replace_table(conn, "human_ratings", ratings)
        distribution = rating_distribution(ratings)
        return dg.MaterializeResult(metadata={
            **table_metadata(ratings, "human_ratings"),
            "sheets": len(frames),
            "distribution": dg.MetadataValue.md(distribution.to_pandas().to_markdown(index=False)
                                                if distribution.height else "(no filled sheets configured)"),
        })

    @dg.asset(
        deps=[eval_scores, human_ratings],
        group_name="evaluation",
        kinds={"duckdb", "markdown"},
        description=(
            "LaMini-style tables: every benchmark with each distilled student beside its base and the average, "
            "ROUGE-L, teacher-judge and human A-D rating distributions; bar charts as PNGs."
        ),
    )
    def leaderboard(pipeline: PipelineConfigResource, duckdb: DuckDBResource) -> dg.MaterializeResult:
        config = pipeline.load()
        with duckdb.get_connection() as conn:
            scores = read_table(conn, "eval_scores")
            ratings = read_table(conn, "human_ratings") if table_exists(conn, "human_ratings") else None
        human = rating_distribution(ratings) if ratings is not None else None
        board = build_leaderboard(scores, human)
        store = config.artifact_store()
        markdown = board.as_markdown()
        for name, png in board.charts.items():
            store.write_bytes(f"leaderboard/{name}", png)
        report = markdown + "".join(f"\n\n![{name}]({name})" for name in board.charts)
        report_uri = store.write_bytes("leaderboard/leaderboard.md", report.encode("utf-8"))
        with duckdb.get_connection() as conn:
            replace_table(conn, "leaderboard", board.summary if board.summary.height else
                          pl.DataFrame(schema={"student": pl.String, "model_kind": pl.String, "average": pl.Float64}))
        versions = scores.select("student", "checkpoint_id", "dataset_version").unique().sort("student")
        return dg.MaterializeResult(metadata={
            "leaderboard": dg.MetadataValue.md(markdown),
            **{f"chart/{name}": dg.MetadataValue.md(_png_markdown(png, name)) for name, png in board.charts.items()},
            **{f"chart_file/{name}": dg.MetadataValue.path(store.uri(f"leaderboard/{name}")) for name in board.charts},
            "report": dg.MetadataValue.path(report_uri),
            "checkpoints": dg.MetadataValue.md(versions.to_pandas().to_markdown(index=False)),
        })

    return [eval_scores, rating_sheet, human_ratings, leaderboard]
