"""The Dagster layer: thin assets, checks and resources over the domain packages."""

import warnings
from pathlib import Path

import dagster as dg

# Partitioned asset checks (one per partition of a partitioned asset) are a Dagster preview that
# works as documented; its warning would print for every check in every step process.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning)

from lamini_assets.config import config_path_from_env, load_config  # noqa: E402 (after the warning filter)
from lamini_assets.defs import dataset, diversity, evaluation, generation, lineage, plan, seeds, sql_models, teacher, training  # noqa: E402 (after the warning filter)
from lamini_assets.defs.automation import automation_sensor, with_code_versions_and_automation  # noqa: E402 (after the warning filter)
from lamini_assets.defs.execution import executor_for  # noqa: E402 (after the warning filter)
from lamini_assets.defs.partitions import student_partitions  # noqa: E402 (after the warning filter)
from lamini_assets.defs.resources import build_resources  # noqa: E402 (after the warning filter)
from lamini_assets.defs.snapshot import read_snapshot_sensor  # noqa: E402 (after the warning filter)


def build_definitions(config_path: Path | str | None = None) -> dg.Definitions:
    """Definitions for one pipeline config (LAMINI_CONFIG, or configs/demo.yaml)."""
    path = Path(config_path) if config_path is not None else config_path_from_env()
    config = load_config(path)
    return dg.Definitions(
        assets=[
            *with_code_versions_and_automation(
                [
                    seeds.seed_instructions,
                    *sql_models.sql_model_assets(config),
                    generation.wikipedia_topics,
                    generation.instructions,
                    teacher.responses,
                    dataset.lamini_dataset,
                    plan.teacher_cost_plan,
                    diversity.diversity_report,
                ],
                config,
            ),
            training.train_split,
            *([training.build_student_checkpoints(student_partitions(config))] if config.students else []),
            *(evaluation.build_evaluation_assets(student_partitions(config)) if config.students else []),
            # Reads student_checkpoints: without students that asset does not exist.
            *([lineage.lineage_report] if config.students else []),
        ],
        asset_checks=[
            *seeds.seed_instruction_checks,
            seeds.seed_dedup_keeps_one_of_each,
            *generation.instruction_checks,
            *teacher.response_checks,
            *dataset.dataset_checks,
            training.evaluation_only_not_in_training,
            *diversity.diversity_checks,
        ],
        sensors=[automation_sensor, teacher.response_shard_keys,
                 *([read_snapshot_sensor(config)] if config.storage.read_snapshot else [])],
        resources=build_resources(config, str(path.resolve())),
        executor=executor_for(config.execution),
    )
