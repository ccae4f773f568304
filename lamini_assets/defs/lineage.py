"""Lineage stage: the lineage index the audit answers from, and a report of what trained each student."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from lamini_assets.defs.resources import PipelineConfigResource
from lamini_assets.lineage import Audit, AuditSources, LineageUnavailable, build_lineage_index
from lamini_assets.lineage.report import lineage_report_markdown, lineage_version, student_lineage
from lamini_assets.defs.automation import FOLLOWS_UPSTREAM

REPORT_KEY = "lineage/lineage_report.md"


@dg.asset(
    deps=["student_checkpoints"],
    group_name="lineage",
    kinds={"duckdb"},
    automation_condition=FOLLOWS_UPSTREAM,
    description=(
        "For every student, what trained its latest checkpoint: rows per instruction_source and split, the "
        "dataset version and its card, the teacher model(s) and prompt template versions, and the manifest. "
        "Also (re)builds the lineage index tables that `lamini-audit` answers from in under a second."
    ),
)
def lineage_report(pipeline: PipelineConfigResource, duckdb: DuckDBResource) -> dg.MaterializeResult:
    config = pipeline.load()
    store = config.artifact_store()

    def card(version: str) -> str | None:
        key = f"lamini_dataset/{version}/dataset_card.md"
        return store.read_bytes(key).decode("utf-8") if store.exists(key) else None

    with duckdb.get_connection() as conn:
        try:
            checkpoints = build_lineage_index(conn)
        except LineageUnavailable as nothing_trained:
            return dg.MaterializeResult(
                metadata={"report": dg.MetadataValue.md(str(nothing_trained)), "checkpoints": 0, "students": 0},
                data_version=dg.DataVersion("no-checkpoints"),
            )
        audit = Audit(conn, AuditSources(dataset_card=card))
        lineage = student_lineage(audit)
        version = lineage_version(audit)
        indexed_rows = conn.execute("select count(*) from main.lineage_rows").fetchone()[0]
    cards = {m["dataset_version"]: card(m["dataset_version"]) for m in lineage}
    report = lineage_report_markdown(lineage, cards)
    uri = store.write_bytes(REPORT_KEY, report.encode("utf-8"))
    per_student = {}
    for m in lineage:
        per_student[f"{m['student']}/checkpoint_id"] = m["checkpoint_id"]
        per_student[f"{m['student']}/dataset_version"] = m["dataset_version"]
        per_student[f"{m['student']}/train_rows"] = m["rows"]["train"]
        per_student[f"{m['student']}/teacher"] = ", ".join(t["value"] for t in m["teacher_models"])
        per_student[f"{m['student']}/manifest"] = m["manifest"]["sql"]
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.md(report),
            "report_path": dg.MetadataValue.path(uri),
            "checkpoints": checkpoints,
            "students": len(lineage),
            "dagster/row_count": indexed_rows,
            "dagster/table_name": "main.lineage_rows",
            **per_student,
        },
        data_version=dg.DataVersion(version),
    )
