"""What the teacher was asked for each dataset row, read back from the teacher cache.

Every row names two cache keys: `cache_key` (the call that answered it) and, for generated rows,
`generation_cache_key` (the call that generated its instruction). The cache stores each request
(messages, sampling parameters, template version; never an API key) beside its answer.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from lamini_assets.teacher.cache import ResponseCache

REQUEST_SCHEMA: dict[str, pl.DataType] = {
    "row_id": pl.String(),
    "call": pl.String(),  # "generation" (the instruction's) or "response"
    "cache_key": pl.String(),
    "model": pl.String(),
    "template_version": pl.String(),
    "messages": pl.String(),  # JSON list of {role, content}
    "params": pl.String(),  # JSON of the sampling parameters
}


def requests_behind(rows: pl.DataFrame, cache_dir: Path) -> pl.DataFrame:
    """One row per (dataset row, teacher call) whose request the cache holds (REQUEST_SCHEMA)."""
    calls = pl.concat([
        rows.select("row_id", pl.lit("generation").alias("call"), pl.col("generation_cache_key").alias("cache_key")),
        rows.select("row_id", pl.lit("response").alias("call"), "cache_key"),
    ]).drop_nulls("cache_key")
    cache = ResponseCache(cache_dir)
    try:
        found = cache.get_requests(calls["cache_key"].unique().to_list())
    finally:
        cache.close()
    stored = pl.DataFrame(
        [{"cache_key": key, "model": request.get("model"), "template_version": request.get("template_version"),
          "messages": json.dumps(request.get("messages"), ensure_ascii=False),
          "params": json.dumps(request.get("params"), ensure_ascii=False, sort_keys=True)}
         for key, request in found.items()],
        schema={name: REQUEST_SCHEMA[name] for name in ("cache_key", "model", "template_version", "messages", "params")},
    )
    return calls.join(stored, on="cache_key").select(list(REQUEST_SCHEMA)).sort("row_id", "call")
