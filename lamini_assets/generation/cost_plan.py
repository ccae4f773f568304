"""What a full run of the teacher stages would call and cost, counted without calling (`make plan`).

Generation is planned deterministically and the cache is content-addressed, so for every partition
the exact calls are known: generation calls from the seeds (and topics), response calls from the
instructions already generated. For a generated partition whose instructions do not exist yet,
its responses are an estimate, and the `basis` column says from what.
"""

from __future__ import annotations

import sys
from dataclasses import asdict

import duckdb
import polars as pl

from lamini_assets.config import PipelineConfig, config_path_from_env, load_config
from lamini_assets.generation.partitions import generation_requests, response_requests
from lamini_assets.generation.prompts import plan_generation_calls
from lamini_assets.schema import INSTRUCTION_SOURCES, LABEL_SEED_POOL, ORIGINAL_LABELS
from lamini_assets.teacher import CallPlan, Teacher
from lamini_assets.teacher.client import estimate_prompt_tokens
from lamini_assets.generation.prompts import build_response_messages

PLAN_SCHEMA = {
    "stage": pl.String, "partition": pl.String, "calls_planned": pl.Int64, "cached": pl.Int64, "new": pl.Int64,
    "prompt_tokens_est": pl.Int64, "completion_tokens_est": pl.Int64, "cost_usd": pl.Float64,
    "minutes_at_budget": pl.Float64, "basis": pl.String,
}


def _tables(conn: duckdb.DuckDBPyConnection | None) -> set[str]:
    if conn is None:
        return set()
    return {row[0] for row in conn.execute("select table_name from information_schema.tables").fetchall()}


def _row(stage: str, label: str, plan: CallPlan, basis: str) -> dict[str, object]:
    return {"stage": stage, "partition": label, "calls_planned": plan.calls, "cached": plan.cached, "new": plan.new,
            "prompt_tokens_est": plan.prompt_tokens, "completion_tokens_est": plan.completion_tokens,
            "cost_usd": plan.cost_usd, "minutes_at_budget": plan.minutes_at_budget, "basis": basis}


def plan_teacher_calls(config: PipelineConfig, teacher: Teacher,
                       conn: duckdb.DuckDBPyConnection | None) -> pl.DataFrame:
    """One row per (stage, partition) of the teacher-calling assets, then a total row."""
    tables = _tables(conn)
    seeds = (conn.execute("select * from seed_instructions_dedup").pl()
             if conn is not None and "seed_instructions_dedup" in tables else None)
    topics = (conn.execute("select title from wikipedia_topics").pl()["title"].to_list()
              if conn is not None and "wikipedia_topics" in tables else [])
    instructions = (conn.execute("select instruction_source, instruction_id, instruction, input from instructions").pl()
                    if conn is not None and "instructions" in tables else None)
    rows: list[dict[str, object]] = []
    for label in INSTRUCTION_SOURCES:
        pool_seeds = seeds.filter(pl.col("seed_source") == LABEL_SEED_POOL[label]) if seeds is not None else None
        generation_calls = None
        if label not in ORIGINAL_LABELS:
            count = config.generation.calls_per_partition.get(label, 0)
            if pool_seeds is None:
                rows.append(_row("instructions", label, teacher.priced_plan(count, 0, count, 0, 0, ""),
                                 "estimate: seeds not loaded yet (materialise the seeds group first); no tokens"))
            else:
                generation_calls = plan_generation_calls(label, pool_seeds.to_dicts(), count, config.generation, topics)
                plan = teacher.plan(generation_requests(generation_calls))
                rows.append(_row("instructions", label, plan, f"exact calls; completion tokens: {plan.completion_basis}"))

        generated = instructions.filter(pl.col("instruction_source") == label) if instructions is not None else None
        if generated is not None and generated.height:
            plan = teacher.plan(response_requests(generated.to_dicts(), teacher.config.system_prompt))
            rows.append(_row("responses", label, plan, f"exact calls from `instructions`; completion tokens: "
                                                       f"{plan.completion_basis}"))
        elif label in ORIGINAL_LABELS and pool_seeds is not None:
            plan = teacher.plan(response_requests(pool_seeds.to_dicts(), teacher.config.system_prompt))
            rows.append(_row("responses", label, plan, f"exact calls from the pool's deduplicated seeds; completion "
                                                       f"tokens: {plan.completion_basis}"))
        elif label not in ORIGINAL_LABELS and pool_seeds is not None and pool_seeds.height:
            per_call = config.generation.instructions_per_call[LABEL_SEED_POOL[label]]
            count = len(generation_calls or []) * per_call
            mean_prompt = sum(estimate_prompt_tokens(build_response_messages(r["instruction"], r["input"],
                                                                             teacher.config.system_prompt))
                              for r in pool_seeds.to_dicts()) / pool_seeds.height
            plan = teacher.priced_plan(count, 0, count, round(mean_prompt * count),
                                       teacher.completion_allowance() * count, "")
            rows.append(_row("responses", label, plan,
                             f"estimate: instructions not generated yet; {len(generation_calls or [])} generation "
                             f"calls x {per_call} instructions a call (an upper bound: filters drop some), prompts "
                             f"as long as the pool's seeds, completions at max_tokens"))
        else:
            rows.append(_row("responses", label, teacher.priced_plan(0, 0, 0, 0, 0, ""),
                             "unknown: seeds not loaded yet (materialise the seeds group first)"))
    frame = pl.DataFrame(rows, schema=PLAN_SCHEMA)
    total = frame.select(
        pl.lit("all").alias("stage"), pl.lit("all").alias("partition"),
        *(pl.col(c).sum() for c in ("calls_planned", "cached", "new", "prompt_tokens_est", "completion_tokens_est")),
        pl.col("cost_usd").sum().alias("cost_usd") if frame["cost_usd"].null_count() == 0
        else pl.lit(None, pl.Float64).alias("cost_usd"),
        pl.col("minutes_at_budget").sum().alias("minutes_at_budget") if frame["minutes_at_budget"].null_count() == 0
        else pl.lit(None, pl.Float64).alias("minutes_at_budget"),
        pl.lit("sum; teacher steps run one at a time (the teacher pool)").alias("basis"),
    )
    return pl.concat([frame, total])


def describe_prices(teacher: Teacher) -> str:
    config = teacher.config
    price = config.prices.get(config.model)
    priced = ("offline stand-in: free" if config.is_offline else
              f"no price configured for {config.model} (teacher.prices)" if price is None else
              f"{config.model}: ${price.input_usd_per_million}/M prompt, ${price.output_usd_per_million}/M completion tokens")
    budget = (f"budgets: {config.requests_per_minute or 'no'} requests/min, {config.tokens_per_minute or 'no'} tokens/min"
              if config.requests_per_minute or config.tokens_per_minute
              else "no budget configured: time depends on the server's limits")
    return f"{priced}; {budget}"


def main() -> int:
    """`make plan`: print the plan for the selected config (LAMINI_CONFIG or configs/demo.yaml)."""
    from lamini_assets.defs.resources import TeacherResource  # the teacher exactly as the assets build it

    config = load_config(config_path_from_env())
    teacher = TeacherResource.from_config(config).client(lambda line: None)
    if config.duckdb_path.exists():
        with duckdb.connect(str(config.duckdb_path), read_only=True) as conn:
            plan = plan_teacher_calls(config, teacher, conn)
    else:
        plan = plan_teacher_calls(config, teacher, None)
    with pl.Config(tbl_width_chars=260, tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=200, tbl_hide_dataframe_shape=True,
                   tbl_hide_column_data_types=True):
        print(plan)
    print(describe_prices(teacher))
    return 0


if __name__ == "__main__":
    sys.exit(main())
