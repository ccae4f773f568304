"""Declarative automation and code versions, decided from the pipeline config when the
definitions are built.

- SQL models, `lamini_dataset` and the reports downstream of it rematerialise by themselves when
  what they read changes (the daemon that `dagster dev` / `make ui` runs evaluates the conditions).
- Teacher-calling assets cost money: they get a condition only when `automation.teacher_assets`
  is true in the config.
- Python assets get a code version built from what changes their output (prompt template
  versions, the config sections they read), so the UI marks them stale when one changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from lamini_assets.config import PipelineConfig
from lamini_assets.dataset.exports import HF_FOLDER
from lamini_assets.defs.metadata import code_version
from lamini_assets.generation.prompts import RESPONSE_TEMPLATE_VERSION, TEMPLATE_VERSION

_A = dg.AutomationCondition
# Rebuild when an upstream asset (or any partition of one) was updated, once none is in progress.
# Unlike `eager()`, a partition never materialised does not hold it back (a pipeline with one seed
# pool or a source left out would never update), and nothing starts on a fresh instance before
# its upstream exists.
FOLLOWS_UPSTREAM = (
    _A.any_deps_updated().since_last_handled() & ~_A.any_deps_in_progress() & ~_A.in_progress()
).with_label("on_upstream_update")

TEACHER_ASSETS = frozenset({"instructions", "instruction_rejects", "responses"})
# Bumped when the dataset's build or export format changes.
DATASET_FORMAT_VERSION = "lamini-dataset@2"


def code_versions(config: PipelineConfig) -> dict[str, str]:
    """Code version per Python asset key (SQL models hash their own SQL, macros and parameters)."""
    teacher = config.teacher.model_dump(include={"backend", "model", "system_prompt", "sampling"})
    generation = code_version(TEMPLATE_VERSION, config.generation.model_dump(), teacher)
    seeds = code_version([spec.model_dump() for spec in config.sources])
    return {
        "seed_instructions": seeds,
        "seed_quarantine": seeds,
        "wikipedia_topics": code_version(config.generation.topics.model_dump()),
        "instructions": generation,
        "instruction_rejects": generation,
        # shard_rows: a new shard layout shows every shard stale (rerunning them moves rows, never copies).
        "responses": code_version(RESPONSE_TEMPLATE_VERSION, teacher, config.responses.shard_rows),
        "lamini_dataset": code_version(DATASET_FORMAT_VERSION, HF_FOLDER, config.dataset.model_dump()),
    }


def with_code_versions_and_automation(
    assets: Sequence[dg.AssetsDefinition], config: PipelineConfig
) -> list[dg.AssetsDefinition]:
    versions = code_versions(config)

    def adjust(spec: dg.AssetSpec) -> dg.AssetSpec:
        name = spec.key.to_user_string()
        changes: dict[str, object] = {}
        if name in versions:
            changes["code_version"] = versions[name]
        if name in TEACHER_ASSETS:
            changes["automation_condition"] = FOLLOWS_UPSTREAM if config.automation.teacher_assets else None
        return spec.replace_attributes(**changes) if changes else spec

    return [asset.map_asset_specs(adjust) for asset in assets]


# Evaluates every condition above; running from the start, so `make ui` (dagster dev, with its
# daemon) follows upstream changes without toggling Dagster's default sensor on in the UI.
automation_sensor = dg.AutomationConditionSensorDefinition(
    "lamini_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Declarative automation: SQL models and lamini_dataset follow their upstream; teacher "
    "assets only when the config's automation.teacher_assets is true.",
)
