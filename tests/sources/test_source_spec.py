from typing import get_args

import pytest
from pydantic import ValidationError

from lamini_assets.schema import SEED_SOURCES
from lamini_assets.sources import LOADERS, SourceSpec
from lamini_assets.sources.spec import SeedPool, SourceFormat


def test_pool_literal_and_registry_match_the_schema_and_formats() -> None:
    assert get_args(SeedPool) == SEED_SOURCES
    assert sorted(LOADERS) == sorted(get_args(SourceFormat))


@pytest.mark.parametrize(
    ("fmt", "pool"),
    [("self_instruct_jsonl", "self_instruct"), ("alpaca_json", "alpaca"), ("p3_templates", "p3"), ("flan", "flan")],
)
def test_pool_defaults_from_the_format(fmt: str, pool: str) -> None:
    assert SourceSpec(name="s", format=fmt, path="x").pool == pool


def test_pool_can_be_overridden() -> None:
    assert SourceSpec(name="s", format="flan", path="x", pool="p3").pool == "p3"


def test_unknown_format_names_the_key_and_the_valid_formats() -> None:
    with pytest.raises(ValidationError) as caught:
        SourceSpec(name="s", format="dolly_jsonl", path="x")
    error = caught.value.errors()[0]
    assert error["loc"] == ("format",)
    for valid in get_args(SourceFormat):
        assert valid in error["msg"]


def test_unknown_key_is_rejected() -> None:
    with pytest.raises(ValidationError, match="max_row"):
        SourceSpec(name="s", format="flan", path="x", max_row=5)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"format": "flan"}, "needs 'path'"),
        ({"format": "flan", "path": "x", "dataset": "org/name"}, "'dataset' is only for format 'hf_dataset'"),
        ({"format": "flan", "path": "x", "columns": {"instruction": "q"}}, "'columns' is only for"),
        ({"format": "hf_dataset", "pool": "alpaca", "columns": {"instruction": "q"}}, "exactly one of"),
        (
            {"format": "hf_dataset", "pool": "alpaca", "path": "x", "dataset": "y", "columns": {"instruction": "q"}},
            "exactly one of",
        ),
        ({"format": "hf_dataset", "path": "x", "columns": {"instruction": "q"}}, "needs 'pool'"),
        ({"format": "hf_dataset", "pool": "alpaca", "path": "x"}, "'instruction' column"),
        ({"format": "hf_dataset", "pool": "alpaca", "path": "x", "columns": {"output": "a"}}, "'instruction' column"),
        ({"format": "flan", "path": "x", "max_rows": 0}, "max_rows"),
        ({"format": "flan", "path": "x", "on_bad_rows": "skip"}, "on_bad_rows"),
    ],
)
def test_invalid_specs_are_rejected(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SourceSpec(name="s", **fields)


def test_unknown_column_role_is_rejected() -> None:
    with pytest.raises(ValidationError, match="columns"):
        SourceSpec(name="s", format="hf_dataset", pool="alpaca", path="x", columns={"instruction": "q", "answer": "a"})
