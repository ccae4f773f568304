"""One seed source as the pipeline config names it: format, location, pool and sampling."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SourceFormat = Literal["self_instruct_jsonl", "alpaca_json", "p3_templates", "flan", "hf_dataset"]

# Kept equal to schema.SEED_SOURCES (a test checks it): a Literal gives the config a checked enum.
SeedPool = Literal["self_instruct", "alpaca", "p3", "flan"]

# The pool each format feeds unless the config says otherwise; hf_dataset must say.
DEFAULT_POOL: dict[str, SeedPool] = {
    "self_instruct_jsonl": "self_instruct",
    "alpaca_json": "alpaca",
    "p3_templates": "p3",
    "flan": "flan",
}

ColumnRole = Literal["instruction", "input", "output", "template"]


class SourceSpec(BaseModel):
    """A seed source entry of the config.

    Sampling keeps, within each template, the `max_rows_per_template` rows with the smallest
    hash(sample_seed, instruction_id), then the `max_rows` smallest overall. Selection by hash rank
    rather than a shuffle is deterministic and stable: adding rows to a file can only displace rows
    that rank after a new one, so earlier selections change minimally.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    format: SourceFormat
    pool: SeedPool | None = None
    path: str | None = None  # file or folder; relative paths resolve against the config's folder
    dataset: str | None = None  # hf_dataset only: a hub name (needs network)
    split: str = "train"  # hf_dataset only
    columns: dict[ColumnRole, str] | None = None  # hf_dataset only: role -> dataset column
    max_rows: int | None = Field(default=None, gt=0)  # applied after the per-template cap
    max_rows_per_template: int | None = Field(default=None, gt=0)
    sample_seed: int = 0
    on_bad_rows: Literal["error", "quarantine"] = "error"
    # In quarantine mode the source fails when more than this share of its rows is quarantined
    # (and always when no row is good): a wrong format, columns or encoding, not a few bad rows.
    max_quarantined_share: float = Field(default=0.5, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _check_location_and_pool(self) -> SourceSpec:
        if self.format == "hf_dataset":
            if (self.path is None) == (self.dataset is None):
                raise ValueError("hf_dataset needs exactly one of 'path' (local) or 'dataset' (hub name)")
            if self.pool is None:
                raise ValueError(f"hf_dataset needs 'pool', one of {list(DEFAULT_POOL.values())}")
            if not self.columns or "instruction" not in self.columns:
                raise ValueError("hf_dataset needs 'columns' with at least an 'instruction' column")
            return self
        if self.path is None:
            raise ValueError(f"format '{self.format}' needs 'path'")
        for hf_only in ("dataset", "columns"):
            if getattr(self, hf_only) is not None:
                raise ValueError(f"'{hf_only}' is only for format 'hf_dataset', not '{self.format}'")
        if self.pool is None:
            self.pool = DEFAULT_POOL[self.format]
        return self
