"""Cost preview: what materialising the teacher stages would call and cost, without calling."""

import dagster as dg
import duckdb

from lamini_assets.defs.resources import PipelineConfigResource, TeacherResource
from lamini_assets.generation.cost_plan import describe_prices, plan_teacher_calls


@dg.asset(
    group_name="teacher",
    kinds={"python"},
    description=(
        "Cost preview, no teacher call made: per partition of `instructions` and `responses`, the calls "
        "planned, already cached and new, estimated prompt and completion tokens, cost at the configured "
        "prices and time at the configured budgets. Responses of partitions not generated yet are estimates "
        "(the basis column says from what). Cheap: materialise it before a backfill. `make plan` prints the same."
    ),
)
def teacher_cost_plan(context: dg.AssetExecutionContext, pipeline: PipelineConfigResource,
                      teacher: TeacherResource) -> dg.MaterializeResult:
    config = pipeline.load()
    client = teacher.client(context.log.info)
    if config.duckdb_path.exists():
        # Read-only: the preview never takes the writer's lock from a run in progress.
        with duckdb.connect(str(config.duckdb_path), read_only=True) as conn:
            plan = plan_teacher_calls(config, client, conn)
    else:
        plan = plan_teacher_calls(config, client, None)
    total = plan.filter(plan["stage"] == "all").row(0, named=True)
    per_partition = {
        f"new_calls/{row['stage']}/{row['partition']}": row["new"]
        for row in plan.filter(plan["stage"] != "all").iter_rows(named=True)
    }
    return dg.MaterializeResult(
        metadata={
            "plan": dg.MetadataValue.md(plan.to_pandas().to_markdown(index=False)),
            "calls_planned": total["calls_planned"],
            "cached": total["cached"],
            "new_calls": total["new"],
            "prompt_tokens_est": total["prompt_tokens_est"],
            "completion_tokens_est": total["completion_tokens_est"],
            "cost_usd_est": total["cost_usd"] if total["cost_usd"] is not None else "no price configured",
            "minutes_at_budget": total["minutes_at_budget"] if total["minutes_at_budget"] is not None else "no budget",
            "prices_and_budgets": describe_prices(client),
            **per_partition,
        }
    )
