"""The diversity report of one dataset version: tables, figures, markdown and a standalone HTML page."""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from lamini_assets.artifacts import ArtifactStore
from lamini_assets.diversity.config import DiversityConfig
from lamini_assets.diversity.embeddings import embed_instructions, embedder_name
from lamini_assets.diversity.lexical import lexical_stats, near_duplicate_rate
from lamini_assets.diversity.projection import project_2d
from lamini_assets.diversity.tables import (
    load_tokenizer,
    nearest_seed_similarity,
    rejects_by_reason,
    similarity_summary,
    table_one,
    with_lengths,
)
from lamini_assets.diversity.verbs import parser_available, verb_object_pairs
from lamini_assets.schema import LABEL_SEED_POOL, ORIGINAL_LABELS
from lamini_assets.sources.sampling import sample_rank

Log = Callable[[str], None]

FIGURE_TITLES: dict[str, str] = {
    "projection": "2D projection of instruction embeddings, by source",
    "lengths_words": "Instruction and response lengths per source (words)",
    "lengths_tokens": "Instruction and response lengths per source (tokens)",
    "rejects": "Generated candidates kept or dropped, by reason",
    "nearest_seed": "Similarity of generated instructions to their nearest seed",
    "verb_noun": "Root verbs and their direct objects (generated instructions)",
}


# One row per instruction_source; measures are null where a source has too few words for them.
LEXICAL_SCHEMA: dict[str, pl.DataType] = {
    "instruction_source": pl.String(),
    "rows_sampled": pl.Int64(),
    **{f"{column}_{measure}": dtype for column in ("instruction", "response") for measure, dtype in (
        ("tokens", pl.Int64()), ("mattr", pl.Float64()), ("distinct_1", pl.Float64()),
        ("distinct_2", pl.Float64()), ("near_duplicate_rate", pl.Float64()))},
}


def report_key(version: str, name: str = "report.html") -> str:
    """Where a dataset version's report (and its figures and tables) live in the artifact store."""
    return f"diversity/{version}/{name}"


@dataclass
class DiversityInputs:
    version: str  # the dataset version the report describes
    dataset: pl.DataFrame  # lamini_dataset rows: instruction_id, instruction, response, instruction_source
    seeds: pl.DataFrame  # seed_instructions_dedup: instruction_id, seed_source, instruction, input
    rejects: pl.DataFrame  # instruction_rejects: instruction_source, drop_reason
    instructions_kept: pl.DataFrame  # instruction_source, rows: instructions kept per source


@dataclass
class DiversityReport:
    version: str
    tables: dict[str, pl.DataFrame]
    figures: dict[str, bytes]
    notes: list[str]
    counts: dict[str, int | float] = field(default_factory=dict)

    @property
    def lexical(self) -> pl.DataFrame:
        return self.tables["lexical"]


def seeded_order(rows: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Rows in the seeded order of `sample_rank` within each source (stable as data grows)."""
    ranks = [sample_rank(seed, row_id) for row_id in rows["instruction_id"].to_list()]
    return rows.with_columns(pl.Series("_rank", ranks, dtype=pl.UInt64)).sort(
        "instruction_source", "_rank", "instruction_id").drop("_rank")


def per_source_head(ordered: pl.DataFrame, limit: int) -> pl.DataFrame:
    return ordered.filter(pl.int_range(pl.len()).over("instruction_source") < limit)


def seed_texts(seeds: pl.DataFrame) -> pl.DataFrame:
    """Seeds as LaMini's `instruction` (task, then its input after a blank line), like the dataset."""
    return seeds.select(
        "instruction_id", "seed_source",
        pl.when(pl.col("input") == "").then(pl.col("instruction"))
        .otherwise(pl.concat_str([pl.col("instruction"), pl.lit("\n\n"), pl.col("input")])).alias("instruction"),
    ).unique("instruction_id", keep="first", maintain_order=True)


def build_diversity_report(inputs: DiversityInputs, config: DiversityConfig, store: ArtifactStore,
                           log: Log = print) -> DiversityReport:
    """Every table and figure of the report. Embeddings and projections come from the cache when
    they can; `counts` says how many were computed and how long each phase took."""
    timings: dict[str, float] = {}
    notes: list[str] = []
    model = config.embedding_model
    ordered = seeded_order(inputs.dataset.select("instruction_id", "instruction", "response", "instruction_source"),
                           config.seed)

    started = time.perf_counter()
    tokenizer = load_tokenizer(config.tokenizer)
    lengths = with_lengths(ordered, tokenizer)
    table_1 = table_one(lengths)
    timings["table_one"] = time.perf_counter() - started

    started = time.perf_counter()
    lexical_rows = per_source_head(ordered, config.lexical_sample_per_source)
    lexical = []
    for source, group in lexical_rows.group_by("instruction_source", maintain_order=True):
        ids = group["instruction_id"].to_list()
        record: dict[str, object] = {"instruction_source": source[0], "rows_sampled": group.height}
        for column in ("instruction", "response"):
            texts = group[column].to_list()
            for name, value in lexical_stats(texts, config.mattr_window).items():
                record[f"{column}_{name}"] = value
            record[f"{column}_near_duplicate_rate"] = near_duplicate_rate(ids, texts, config.near_duplicates)
        lexical.append(record)
    lexical_table = pl.DataFrame(lexical, schema=LEXICAL_SCHEMA).sort("instruction_source")
    timings["lexical"] = time.perf_counter() - started

    # Embeddings: the per-source sample, and the seeds of every pool a generated source drew from.
    sample = per_source_head(ordered, config.sample_per_source)
    generated_labels = sorted(set(sample["instruction_source"].unique().to_list()) - set(ORIGINAL_LABELS))
    pools = sorted({LABEL_SEED_POOL[label] for label in generated_labels if label in LABEL_SEED_POOL})
    seeds = seed_texts(inputs.seeds.filter(pl.col("seed_source").is_in(pools)))
    seeds = per_source_head(seeded_order(seeds.rename({"seed_source": "instruction_source"}), config.seed),
                            config.max_seeds_per_pool).rename({"instruction_source": "seed_source"})
    for pool, count in inputs.seeds.filter(pl.col("seed_source").is_in(pools)).group_by("seed_source").len().iter_rows():
        if count > config.max_seeds_per_pool:
            notes.append(f"Nearest-seed similarity compares with a seeded sample of {config.max_seeds_per_pool:,} "
                         f"of the {count:,} seeds of pool {pool} (diversity.max_seeds_per_pool).")
    ids = sample["instruction_id"].to_list() + seeds["instruction_id"].to_list()
    texts = sample["instruction"].to_list() + seeds["instruction"].to_list()
    embedded = embed_instructions(ids, texts, store, model, config.batch_size, config.device, log,
                                  backend=config.embedding_backend)
    timings["embedding"] = embedded.seconds
    if embedded.embedder != embedder_name(model, config.embedding_backend):
        notes.append(f"Embeddings by {embedded.embedder}: the {config.embedding_backend} backend was unavailable "
                     "(the run log says why).")
    sample_vectors = embedded.vectors[:sample.height]
    seed_vectors = embedded.vectors[sample.height:]

    started = time.perf_counter()
    # t-SNE costs grow faster than rows: project a seeded per-source head of the embedded sample.
    projected = per_source_head(sample.with_row_index("_position"), config.projection_sample_per_source)
    coordinates, projection_cached = project_2d(sample_vectors[projected["_position"].to_numpy()],
                                                projected["instruction_id"].to_list(), store,
                                                embedded.embedder, config.projection, config.seed)
    timings["projection"] = time.perf_counter() - started

    similarity_parts = []
    labels = np.asarray(sample["instruction_source"].to_list())
    seed_pools = np.asarray(seeds["seed_source"].to_list())
    for label in generated_labels:
        pool = LABEL_SEED_POOL.get(label)
        mask = labels == label
        best = nearest_seed_similarity(sample_vectors[mask], seed_vectors[seed_pools == pool])
        similarity_parts.append(pl.DataFrame({"instruction_source": [label] * int(mask.sum()),
                                              "instruction_id": sample["instruction_id"].filter(pl.Series(mask)),
                                              "similarity": best}))
    similarity = (pl.concat(similarity_parts) if similarity_parts else
                  pl.DataFrame(schema={"instruction_source": pl.String, "instruction_id": pl.String,
                                       "similarity": pl.Float32})).filter(pl.col("similarity").is_not_nan())

    kept = inputs.instructions_kept.filter(pl.col("instruction_source").is_in(
        [label for label in inputs.instructions_kept["instruction_source"].to_list() if label not in ORIGINAL_LABELS]))
    rejects = rejects_by_reason(inputs.rejects, kept)

    started = time.perf_counter()
    from lamini_assets.diversity import figures  # matplotlib: only the step that draws pays for it

    report_figures = {
        "projection": figures.projection_figure(coordinates, projected["instruction_source"].to_list(),
                                                config.projection, embedded.embedder, inputs.version),
        "lengths_words": figures.length_histograms(lengths, "words"),
        "lengths_tokens": figures.length_histograms(lengths, "tokens"),
        "rejects": figures.rejects_figure(rejects),
        "nearest_seed": figures.similarity_figure(similarity, embedded.embedder),
    }
    tables = {
        "table_one": table_1,
        "lexical": lexical_table,
        "rejects": rejects,
        "nearest_seed": similarity_summary(similarity),
    }
    verb_noun = config.verb_noun
    if verb_noun.enabled != "off":
        unavailable = parser_available(verb_noun.model)
        if unavailable and verb_noun.enabled == "on":
            raise RuntimeError(f"diversity.verb_noun.enabled is on but {unavailable}")
        if unavailable:
            notes.append(f"Verb-noun analysis left out: {unavailable}.")
        else:
            texts_to_parse = sample.filter(pl.col("instruction_source").is_in(generated_labels))
            pairs = verb_object_pairs(texts_to_parse["instruction"].to_list(), verb_noun.model)
            report_figures["verb_noun"] = figures.verb_noun_figure(pairs, verb_noun.top_verbs, verb_noun.top_objects)
            tables["verb_noun"] = pairs.group_by("verb", "object").len("rows").sort(
                ["rows", "verb", "object"], descending=[True, False, False]).head(50)
    timings["figures"] = time.perf_counter() - started

    counts: dict[str, int | float] = {
        "rows": inputs.dataset.height,
        "rows_embedded_sample": sample.height,
        "rows_projected": projected.height,
        "seeds_compared": seeds.height,
        "embeddings_cached": embedded.cached,
        "embeddings_computed": embedded.embedded,
        "projection_cached": int(projection_cached),
        **{f"seconds/{phase}": round(seconds, 2) for phase, seconds in timings.items()},
    }
    return DiversityReport(version=inputs.version, tables=tables, figures=report_figures, notes=notes, counts=counts)


def _format(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Float32, pl.Float64).round(3))


def markdown_table(frame: pl.DataFrame) -> str:
    if not frame.height:
        return "(no rows)"
    return _format(frame).to_pandas().to_markdown(index=False)


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


TABLE_TITLES: dict[str, str] = {
    "table_one": "Table 1: rows, unique rows and mean lengths per source",
    "lexical": "Lexical diversity per source (seeded sample): MATTR, distinct-n, near-duplicate rate",
    "rejects": "Generated candidates kept and dropped by reason",
    "nearest_seed": "Cosine similarity of generated instructions to their nearest seed",
    "verb_noun": "Most common root verb / direct object pairs",
}


def report_markdown(report: DiversityReport, with_figures: bool = True) -> str:
    """The whole report as markdown; figures as inline PNG data (the Dagster UI renders them)."""
    parts = [f"# Diversity report, dataset version `{report.version}`"]
    parts += [f"> {note}" for note in report.notes]
    for name, png in report.figures.items():
        if with_figures:
            parts.append(f"## {FIGURE_TITLES[name]}\n\n![{FIGURE_TITLES[name]}]({png_data_uri(png)})")
    for name, table in report.tables.items():
        parts.append(f"## {TABLE_TITLES[name]}\n\n{markdown_table(table)}")
    return "\n\n".join(parts)


def report_html(report: DiversityReport, config: DiversityConfig) -> str:
    """One standalone page: every figure inline, every table, the settings that produced them."""
    body = [f"<h1>Diversity report, dataset version <code>{html.escape(report.version)}</code></h1>",
            f"<p>Embeddings: <code>{html.escape(config.embedding_model)}</code> ({config.embedding_backend}); projection: "
            f"{config.projection}; up to {config.sample_per_source:,} rows per source embedded, "
            f"{config.lexical_sample_per_source:,} for lexical measures (seed {config.seed}); "
            f"MATTR window {config.mattr_window}; tokens of <code>{html.escape(config.tokenizer)}</code>.</p>"]
    body += [f"<p class='note'>{html.escape(note)}</p>" for note in report.notes]
    for name, png in report.figures.items():
        body.append(f"<h2>{html.escape(FIGURE_TITLES[name])}</h2><img alt='{html.escape(FIGURE_TITLES[name])}' "
                    f"src='{png_data_uri(png)}'>")
    for name, table in report.tables.items():
        body.append(f"<h2>{html.escape(TABLE_TITLES[name])}</h2>")
        body.append(_format(table).to_pandas().to_html(index=False, border=0, na_rep="–") if table.height
                    else "<p>(no rows)</p>")
    style = ("body{font-family:sans-serif;max-width:1150px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:1em 0}td,th{padding:4px 10px;border-bottom:1px solid #ddd;"
             "text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
             "img{max-width:100%}.note{background:#fff6d6;padding:6px 10px}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Diversity report {html.escape(report.version)}"
            f"</title><style>{style}</style></head><body>{''.join(body)}</body></html>")


def write_report(report: DiversityReport, config: DiversityConfig, store: ArtifactStore) -> dict[str, str]:
    """`diversity/<version>/report.html`, each figure as a PNG and each table as CSV beside it; uris."""
    uris = {"report": store.write_bytes(report_key(report.version), report_html(report, config).encode("utf-8"))}
    for name, png in report.figures.items():
        uris[f"figure/{name}"] = store.write_bytes(report_key(report.version, f"{name}.png"), png)
    for name, table in report.tables.items():
        uris[f"table/{name}"] = store.write_bytes(report_key(report.version, f"{name}.csv"),
                                                  table.write_csv().encode("utf-8"))
    return uris


def floor_violations(lexical: pl.DataFrame, min_mattr: float, max_near_duplicate_rate: float) -> dict[str, dict[str, float]]:
    """Sources whose MATTR is below the floor or near-duplicate rate above the ceiling, per measure."""
    found: dict[str, dict[str, float]] = {"mattr": {}, "near_duplicate_rate": {}}
    for row in lexical.iter_rows(named=True):
        for column in ("instruction", "response"):
            value = row.get(f"{column}_mattr")
            if value is not None and value < min_mattr:
                found["mattr"][f"{row['instruction_source']}/{column}"] = round(value, 4)
            value = row.get(f"{column}_near_duplicate_rate")
            if value is not None and value > max_near_duplicate_rate:
                found["near_duplicate_rate"][f"{row['instruction_source']}/{column}"] = round(value, 4)
    return found
