import dagster as dg

from lamini_assets.defs import build_definitions
from lamini_assets.schema import SEED_SOURCES
from lamini_assets.warehouse import load_sql_models


def test_definitions_load_with_groups_partitions_and_checks(state_dir) -> None:
    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"seed_instructions", "seed_quarantine"} <= keys
    assert {model.name for model in load_sql_models()} <= keys

    seeds = graph.get(dg.AssetKey("seed_instructions"))
    assert seeds.group_name == "seeds"
    assert list(seeds.partitions_def.get_partition_keys()) == list(SEED_SOURCES)
    for model in load_sql_models():
        node = graph.get(dg.AssetKey(model.name))
        assert {parent.to_user_string() for parent in node.parent_keys} == set(model.deps)
        assert node.description

    check_names = {check.name for check in graph.asset_check_keys}
    assert {"partition_has_rows", "instructions_valid", "seed_dedup_ids_unique"} <= check_names
    dg.Definitions.validate_loadable(defs)


def test_teacher_calling_assets_share_the_teacher_pool(state_dir) -> None:
    graph = build_definitions().resolve_asset_graph()
    for name in ("instructions", "responses"):
        assert graph.get(dg.AssetKey(name)).pools == {"teacher"}
    assert not graph.get(dg.AssetKey("seed_stats")).pools
    for name in ("instructions", "responses", "wikipedia_topics", "lamini_dataset"):
        assert graph.get(dg.AssetKey(name)).group_name in {"generation", "teacher", "dataset"}
