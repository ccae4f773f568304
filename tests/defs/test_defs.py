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

    checks = {(check.asset_key.to_user_string(), check.name): check for check in graph.asset_check_keys}
    expected = {
        ("seed_instructions", "partition_has_rows"),
        ("seed_instructions_dedup", "seed_dedup_keeps_one_of_each"),
        ("instructions", "partition_has_rows"),
        ("instructions", "instruction_ids_unique"),
        ("responses", "partition_has_rows"),
        ("responses", "instruction_ids_unique"),
        ("responses", "every_instruction_answered"),
        ("responses", "failed_share_under_limit"),
        ("responses", "truncated_share_under_limit"),
    }
    assert expected <= set(checks)
    # Every check of the stages above blocks downstream assets of its run when it fails.
    specs = {(spec.asset_key.to_user_string(), spec.name): spec
             for checks_def in defs.asset_checks for spec in checks_def.check_specs}
    assert all(specs[key].blocking for key in expected)
    dg.Definitions.validate_loadable(defs)


def test_rejects_have_upstream_edges_and_failures_are_an_asset(state_dir) -> None:
    graph = build_definitions().resolve_asset_graph()
    parents = {key.to_user_string() for key in graph.get(dg.AssetKey("instruction_rejects")).parent_keys}
    assert parents == {"seed_instructions_dedup", "seed_copy_ranks", "wikipedia_topics"}  # ranks: the pool's ids
    failures = graph.get(dg.AssetKey("teacher_failures"))
    assert failures.partitions_def == graph.get(dg.AssetKey("responses")).partitions_def
    assert {key.to_user_string() for key in failures.parent_keys} == {"instructions"}


def test_teacher_calling_assets_share_the_teacher_pool(state_dir) -> None:
    graph = build_definitions().resolve_asset_graph()
    for name in ("instructions", "responses"):
        assert graph.get(dg.AssetKey(name)).pools == {"teacher"}
    assert not graph.get(dg.AssetKey("seed_stats")).pools
    for name in ("instructions", "responses", "wikipedia_topics", "lamini_dataset"):
        assert graph.get(dg.AssetKey(name)).group_name in {"generation", "teacher", "dataset"}
