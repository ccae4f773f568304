"""The lineage index: small, sorted tables derived from the training manifests, so that every audit
question is a pruned lookup instead of a scan of every manifest.

Raw answers from `training_manifest` (10 students x 2.58M rows) take 1-6 s each on a 2-core machine
(bench/audit.py): counting per checkpoint scans 25.8M rows, a row lookup scans them all, a diff is a
hash join of two 2.58M-row sets. The index turns them into:

- `lineage_checkpoints`: one row per indexed checkpoint with its ordinal (its bit in the masks below);
- `lineage_sources`: rows per (checkpoint, instruction_source, split);
- `lineage_facts`: rows per (checkpoint, split, fact, value), facts being the teacher model and each
  prompt template version column of `lamini_dataset`;
- `lineage_rows`: one row per manifest row_id, sorted by row_id (DuckDB's zone maps then prune a
  lookup to one row group), with one bitstring per split whose bit k says checkpoint k used the row;
  a diff of two models is then one scan of bits;
- `lineage_instruction_rows`: instruction_id -> row_id, sorted by instruction_id.

The `lineage_report` asset builds it in the DuckDB file. When it does not cover every checkpoint in
`student_checkpoints`, the audit builds it again in memory (temp tables), so answers are never stale.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from lamini_assets.warehouse import checked_identifier, table_exists

MANIFEST_TABLE = "training_manifest"
CHECKPOINTS_TABLE = "student_checkpoints"
DATASET_TABLE = "lamini_dataset"
SPLITS: tuple[str, ...] = ("train", "validation", "test")
INDEX_TABLES: tuple[str, ...] = (
    "lineage_checkpoints",
    "lineage_sources",
    "lineage_facts",
    "lineage_rows",
    "lineage_instruction_rows",
)


class LineageUnavailable(RuntimeError):
    """The tables the audit needs are not there (nothing trained yet, or the file is elsewhere)."""


@dataclass(frozen=True)
class IndexStatus:
    schema: str  # "main" (built by lineage_report) or "temp" (built for this process)
    checkpoints: int
    rebuilt_because: str | None  # why the stored index was not used, or None


def fact_columns(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """The dataset columns recorded per model: the teacher and every prompt template version."""
    if not table_exists(conn, DATASET_TABLE):
        return []
    columns = [row[0] for row in conn.execute(f"describe main.{DATASET_TABLE}").fetchall()]
    return [c for c in columns if c == "teacher_model" or c.endswith("template_version")]


def build_lineage_index(conn: duckdb.DuckDBPyConnection, schema: str = "main") -> int:
    """(Re)build the index tables in `schema` ("main" or "temp") from the manifests; returns checkpoints."""
    schema = checked_identifier(schema)
    if not table_exists(conn, MANIFEST_TABLE):
        raise LineageUnavailable(
            f"no table {MANIFEST_TABLE}: no student has been trained yet (materialise student_checkpoints)"
        )
    has_checkpoints = table_exists(conn, CHECKPOINTS_TABLE)
    checkpoint_columns = (
        "c.created_at::varchar as created_at, c.run_id" if has_checkpoints else "null::varchar as created_at, null::varchar as run_id"
    )
    checkpoint_join = f"left join main.{CHECKPOINTS_TABLE} c using (student, checkpoint_id)" if has_checkpoints else ""
    temp = "temp " if schema == "temp" else ""
    target = "" if schema == "temp" else "main."
    conn.execute(
        f"""
        create or replace {temp}table {target}lineage_checkpoints as
        with counted as (
            select student, checkpoint_id, min(dataset_version) as dataset_version,
                   count(distinct dataset_version) as dataset_versions, count(*) as manifest_rows,
                   count(*) filter (where split = 'train') as train_rows,
                   count(*) filter (where split = 'validation') as validation_rows,
                   count(*) filter (where split = 'test') as test_rows
            from main.{MANIFEST_TABLE} group by student, checkpoint_id
        )
        select (row_number() over (order by m.student, m.checkpoint_id) - 1)::integer as ordinal, m.*,
               {checkpoint_columns}
        from counted m {checkpoint_join}
        order by ordinal
        """
    )
    count = conn.execute(f"select count(*) from {target}lineage_checkpoints").fetchone()
    checkpoints = int(count[0]) if count else 0
    conn.execute(
        f"""
        create or replace {temp}table {target}lineage_sources as
        select checkpoint_id, instruction_source, split, count(*) as rows
        from main.{MANIFEST_TABLE} group by all order by all
        """
    )
    facts = fact_columns(conn)
    if facts:
        grouped = ", ".join(f"d.{checked_identifier(c)}::varchar as {c}" for c in facts)
        unpivot = " union all ".join(
            f"select checkpoint_id, split, '{c}' as fact, "
            f"case when not in_dataset then '(row not in {DATASET_TABLE})' else coalesce({c}, '(none)') end as value, "
            "sum(rows)::bigint as rows from grouped group by all"
            for c in facts
        )
        conn.execute(
            f"""
            create or replace {temp}table {target}lineage_facts as
            with grouped as (
                select m.checkpoint_id, m.split, d.row_id is not null as in_dataset, {grouped}, count(*) as rows
                from main.{MANIFEST_TABLE} m left join main.{DATASET_TABLE} d using (row_id)
                group by all
            )
            select * from ({unpivot}) order by all
            """
        )
    else:
        conn.execute(
            f"create or replace {temp}table {target}lineage_facts (checkpoint_id varchar, split varchar, "
            "fact varchar, value varchar, rows bigint)"
        )
    width = max(checkpoints, 1)
    masks = ", ".join(
        f"coalesce(bitstring_agg(c.ordinal, 0, {width - 1}) filter (where m.split = '{split}'), "
        f"bitstring('0', {width})) as {split}_mask"
        for split in SPLITS
    )
    conn.execute(
        f"""
        create or replace {temp}table {target}lineage_rows as
        select m.row_id, any_value(m.instruction_id) as instruction_id,
               any_value(m.instruction_source) as instruction_source, {masks}
        from main.{MANIFEST_TABLE} m join {target}lineage_checkpoints c using (checkpoint_id)
        group by m.row_id order by m.row_id
        """
    )
    conn.execute(
        f"""
        create or replace {temp}table {target}lineage_instruction_rows as
        select instruction_id, row_id from {target}lineage_rows order by instruction_id, row_id
        """
    )
    return checkpoints


def stored_index_problem(conn: duckdb.DuckDBPyConnection) -> str | None:
    """Why the index in the file cannot answer for the current checkpoints, or None when it can."""
    missing = [t for t in INDEX_TABLES if not table_exists(conn, t)]
    if missing:
        return "the lineage index has not been built (materialise lineage_report)"
    if table_exists(conn, CHECKPOINTS_TABLE):
        unindexed = conn.execute(
            f"""
            select count(*) from main.{CHECKPOINTS_TABLE} c
            where not exists (
                select 1 from main.lineage_checkpoints l
                where l.checkpoint_id = c.checkpoint_id and l.student = c.student
                  and l.created_at is not distinct from c.created_at::varchar
            )
            """
        ).fetchone()
        if unindexed and unindexed[0]:
            return f"{unindexed[0]} checkpoint(s) are newer than the lineage index (materialise lineage_report)"
        return None
    if not table_exists(conn, MANIFEST_TABLE):
        return None
    # No checkpoint table to compare with: compare the manifest's checkpoints (a scan) instead.
    unindexed = conn.execute(
        f"""select count(*) from (select distinct checkpoint_id from main.{MANIFEST_TABLE})
            where checkpoint_id not in (select checkpoint_id from main.lineage_checkpoints)"""
    ).fetchone()
    return f"{unindexed[0]} checkpoint(s) are not in the lineage index" if unindexed and unindexed[0] else None


def ensure_index(conn: duckdb.DuckDBPyConnection) -> IndexStatus:
    """Use the stored index when it covers every checkpoint; otherwise build one in temp tables."""
    problem = stored_index_problem(conn)
    if problem is None:
        count = conn.execute("select count(*) from main.lineage_checkpoints").fetchone()
        return IndexStatus(schema="main", checkpoints=int(count[0]) if count else 0, rebuilt_because=None)
    checkpoints = build_lineage_index(conn, schema="temp")
    return IndexStatus(schema="temp", checkpoints=checkpoints, rebuilt_because=problem)
