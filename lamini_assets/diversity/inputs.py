"""What the report reads: the dataset version it describes, the seeds and the generation rejects.

The dataset version is read through the dataset package's contract (`latest_version` /
`read_version`), in `dataset_version_rows` only.
"""

from __future__ import annotations

import duckdb
import polars as pl

from lamini_assets.artifacts import ArtifactStore
from lamini_assets.dataset import latest_version, read_version
from lamini_assets.diversity.report import LEXICAL_SCHEMA, DiversityInputs
from lamini_assets.schema import INSTRUCTION_REJECT_SCHEMA
from lamini_assets.warehouse import read_table, table_exists

DATASET_COLUMNS = ["instruction_id", "instruction", "response", "instruction_source"]


def dataset_version_rows(store: ArtifactStore) -> tuple[str, pl.DataFrame]:
    """(version, rows) of the newest published dataset version."""
    version = latest_version(store)
    if version is None:
        raise ValueError(f"no dataset version is published at {store.uri('lamini_dataset')}: "
                         "materialise lamini_dataset first")
    return version, read_version(store, version).select(DATASET_COLUMNS)


def read_inputs(conn: duckdb.DuckDBPyConnection, store: ArtifactStore) -> DiversityInputs:
    version, rows = dataset_version_rows(store)
    seeds = conn.execute(
        "select instruction_id, seed_source, instruction, input from main.seed_instructions_dedup"
    ).pl() if table_exists(conn, "seed_instructions_dedup") else pl.DataFrame(
        schema={"instruction_id": pl.String, "seed_source": pl.String, "instruction": pl.String, "input": pl.String})
    rejects = (read_table(conn, "instruction_rejects") if table_exists(conn, "instruction_rejects")
               else pl.DataFrame(schema=INSTRUCTION_REJECT_SCHEMA)).select("instruction_source", "drop_reason")
    kept = conn.execute(
        "select instruction_source, count(*) as rows from main.instructions group by all order by 1"
    ).pl() if table_exists(conn, "instructions") else rows.group_by("instruction_source").len("rows")
    return DiversityInputs(version=version, dataset=rows, seeds=seeds, rejects=rejects,
                           instructions_kept=kept.with_columns(pl.col("rows").cast(pl.Int64)))


def latest_report_lexical(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The `diversity_lexical` rows of the newest report (empty before the first one)."""
    if not table_exists(conn, "diversity_lexical"):
        return pl.DataFrame(schema={"dataset_version": pl.String, **LEXICAL_SCHEMA})
    return conn.execute(
        """
        select * from main.diversity_lexical
        where dataset_version = (select dataset_version from main.diversity_lexical order by created_at desc limit 1)
        order by instruction_source
        """
    ).pl()


def latest_report_version(conn: duckdb.DuckDBPyConnection) -> str | None:
    """The dataset version of the newest diversity report, or None before the first one."""
    if not table_exists(conn, "diversity_lexical"):
        return None
    found = conn.execute("select dataset_version from main.diversity_lexical order by created_at desc limit 1").fetchone()
    return found[0] if found else None
