"""The report's figures as PNG bytes (matplotlib, Agg: no display needed).

Every figure has a title, labelled axes and a legend, is sized to be read at 100% (about 1000 px
wide), and colours each instruction_source the same way in every figure.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from lamini_assets.schema import INSTRUCTION_SOURCES  # noqa: E402

DPI = 100
_PALETTE = plt.get_cmap("tab10").colors
SOURCE_COLOURS: dict[str, tuple[float, float, float]] = {
    source: _PALETTE[i] for i, source in enumerate(INSTRUCTION_SOURCES)
}
_EXTRA_COLOURS = _PALETTE[len(INSTRUCTION_SOURCES):]


def source_colour(source: str) -> tuple[float, float, float]:
    if source in SOURCE_COLOURS:
        return SOURCE_COLOURS[source]
    return _EXTRA_COLOURS[hash(source) % len(_EXTRA_COLOURS)]


def _png(figure: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _empty(title: str, message: str) -> bytes:
    figure, axes = plt.subplots(figsize=(8, 2.5))
    axes.set_axis_off()
    axes.set_title(title, fontsize=13)
    axes.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, wrap=True)
    return _png(figure)


def projection_figure(coordinates: np.ndarray, sources: list[str], method: str, model: str,
                      version: str) -> bytes:
    """Scatter of the 2D projection, one colour per instruction_source."""
    title = f"Instructions by source: {method.upper() if method == 'umap' else 't-SNE'} of sentence embeddings"
    if not len(coordinates):
        return _empty(title, "No rows to project.")
    label = "UMAP" if method == "umap" else "t-SNE"
    figure, axes = plt.subplots(figsize=(10, 8))
    labels = np.asarray(sources)
    size = float(np.clip(8000 / len(coordinates), 3, 30))  # fewer points: bigger dots
    for source in sorted(set(sources)):
        mask = labels == source
        axes.scatter(coordinates[mask, 0], coordinates[mask, 1], s=size, alpha=0.55, linewidths=0,
                     color=source_colour(source), label=f"{source} ({int(mask.sum()):,})")
    axes.set_xlabel(f"{label} dimension 1")
    axes.set_ylabel(f"{label} dimension 2")
    axes.set_title(f"{title}\nembeddings: {model}; dataset version {version}; "
                   "nearby points are instructions with similar meaning", fontsize=12)
    axes.legend(title="instruction_source (rows shown)", markerscale=3, loc="center left",
                bbox_to_anchor=(1.01, 0.5), frameon=False)
    axes.grid(alpha=0.2)
    return _png(figure)


def length_histograms(rows: pl.DataFrame, unit: str = "words") -> bytes:
    """Per source (one row of panels each): histograms of instruction and response length."""
    title = f"Length of instructions and responses per source, in {unit}"
    sources = sorted(rows["instruction_source"].unique().to_list()) if rows.height else []
    if not sources:
        return _empty(title, "No rows.")
    columns = [("instruction", f"instruction_{unit}"), ("response", f"response_{unit}")]
    figure, axes = plt.subplots(len(sources), 2, figsize=(11, 1.9 * len(sources) + 1.2),
                                sharex="col", squeeze=False)
    for col, (name, column) in enumerate(columns):
        values = rows[column].to_numpy()
        # Long tails squash the bulk into one bar: clip at the 99th percentile, the last bin holds the rest.
        clip = max(float(np.ceil(np.percentile(values, 99))), 1.0)
        # Lengths are whole numbers: one bar per length while that stays readable.
        bins = np.arange(0, clip + 2) - 0.5 if clip <= 80 else np.linspace(0, clip, 41)
        for row, source in enumerate(sources):
            source_values = rows.filter(pl.col("instruction_source") == source)[column].to_numpy()
            ax = axes[row][col]
            ax.hist(np.minimum(source_values, clip), bins=bins, color=source_colour(source), alpha=0.85)
            median = float(np.median(source_values))
            ax.axvline(median, color="black", linestyle="--", linewidth=1)
            ax.set_title(f"median {median:.0f}, mean {source_values.mean():.1f}, n={len(source_values):,}",
                         fontsize=9, loc="right")
            ax.set_ylabel(f"{source}\nrows" if col == 0 else "rows", fontsize=9)
            ax.grid(alpha=0.2)
        axes[0][col].set_title(f"{name} length", fontsize=12, loc="left")
        axes[-1][col].set_xlabel(f"{name} length ({unit}; the last bar counts everything ≥ {clip:.0f})")
    figure.suptitle(f"{title} (dashed line: median)", fontsize=13)
    figure.tight_layout()
    return _png(figure)


def rejects_figure(table: pl.DataFrame) -> bytes:
    """Left: each generated source's candidates as 100%, kept or dropped by reason. Right: the dropped
    ones alone, in counts, so that a small share of rejects is still readable."""
    title = "Generated candidates: kept, or dropped by the filters (by reason)"
    if not table.height:
        return _empty(title, "No generated sources in this dataset version.")
    reasons = [c for c in table.columns if c not in {"instruction_source", "kept", "rejected", "rejected_share"}]
    segments = ["kept", *reasons]
    colours = dict(zip(segments, [(0.75, 0.75, 0.75), *plt.get_cmap("Set1").colors]))
    figure, (share_axes, count_axes) = plt.subplots(1, 2, figsize=(13, 0.9 * table.height + 2.4), sharey=True,
                                                    gridspec_kw={"width_ratios": [3, 2]})
    sources = table["instruction_source"].to_list()
    totals = (table["kept"] + table["rejected"]).to_numpy()
    left = np.zeros(table.height)
    dropped_left = np.zeros(table.height)
    for segment in segments:
        counts = table[segment].to_numpy()
        share = np.divide(100.0 * counts, totals, out=np.zeros(len(counts)), where=totals > 0)
        share_axes.barh(sources, share, left=left, color=colours[segment],
                        label=f"{segment.replace('_', ' ')} ({int(counts.sum()):,})")
        left += share
        if segment != "kept":
            count_axes.barh(sources, counts, left=dropped_left, color=colours[segment])
            dropped_left += counts
    for y, (total, kept) in enumerate(zip(totals, table["kept"].to_numpy())):
        share_axes.text(1, y, f"{int(kept):,} kept of {int(total):,}", va="center", fontsize=9)
    for y, dropped in enumerate(dropped_left):
        count_axes.text(dropped, y, f" {int(dropped):,}", va="center", fontsize=9)
    share_axes.set_xlim(0, 100)
    share_axes.set_xlabel("share of the source's generated candidates (%)")
    share_axes.set_ylabel("generated instruction_source")
    share_axes.invert_yaxis()
    share_axes.set_title("all candidates", fontsize=11)
    count_axes.set_xlim(0, max(float(dropped_left.max()) * 1.15, 1.0))
    count_axes.set_xlabel("dropped candidates (count)")
    count_axes.set_title("dropped only, by reason", fontsize=11)
    for axes in (share_axes, count_axes):
        axes.grid(axis="x", alpha=0.2)
    figure.suptitle(title, fontsize=13)
    figure.legend(*share_axes.get_legend_handles_labels(), title="outcome (total)", loc="lower center",
                  ncol=min(len(segments), 4), frameon=False)
    figure.tight_layout(rect=(0, 0.08 + 0.06 * ((len(segments) - 1) // 4), 1, 1))
    return _png(figure)


def similarity_figure(similarity: pl.DataFrame, model: str) -> bytes:
    """Distribution of each generated instruction's cosine similarity to its nearest seed."""
    title = "Novelty: similarity of each generated instruction to its nearest seed"
    if not similarity.height:
        return _empty(title, "No generated instructions in this dataset version.")
    figure, axes = plt.subplots(figsize=(10, 6))
    bins = np.linspace(min(0.0, float(similarity["similarity"].min())), 1.0, 51)
    for source in sorted(similarity["instruction_source"].unique().to_list()):
        values = similarity.filter(pl.col("instruction_source") == source)["similarity"].to_numpy()
        weights = np.full(len(values), 100.0 / len(values))
        colour = source_colour(source)
        axes.hist(values, bins=bins, weights=weights, histtype="step", linewidth=2, color=colour,
                  label=f"{source} (n={len(values):,}, median {np.median(values):.2f})")
        axes.axvline(float(np.median(values)), color=colour, linestyle="--", linewidth=1)
    axes.set_xlabel("cosine similarity to the nearest seed instruction of its pool (1 = same meaning)")
    axes.set_ylabel("share of the source's generated instructions (%)")
    axes.set_title(f"{title}\nlower is more novel; dashed lines: medians; embeddings: {model}", fontsize=12)
    axes.legend(title="generated instruction_source", loc="upper center", bbox_to_anchor=(0.5, -0.12),
                ncol=2, frameon=False)
    axes.grid(alpha=0.2)
    return _png(figure)


def verb_noun_figure(pairs: pl.DataFrame, top_verbs: int, top_objects: int) -> bytes:
    """Self-Instruct's sunburst: inner ring the most common root verbs, outer ring their top objects."""
    title = f"Most common root verbs of generated instructions (inner) and their top {top_objects} direct objects (outer)"
    if not pairs.height:
        return _empty(title, "No instruction had a root verb with a direct object.")
    verb_counts = pairs.group_by("verb").len().sort(["len", "verb"], descending=[True, False]).head(top_verbs)
    verbs = verb_counts["verb"].to_list()
    inner_sizes, outer_sizes, outer_labels, outer_colours, inner_colours = [], [], [], [], []
    cmap = plt.get_cmap("tab20")
    for i, verb in enumerate(verbs):
        objects = (pairs.filter(pl.col("verb") == verb).group_by("object").len()
                   .sort(["len", "object"], descending=[True, False]).head(top_objects))
        colour = cmap(i % 20)
        inner_sizes.append(int(objects["len"].sum()))
        inner_colours.append(colour)
        for obj, count in objects.iter_rows():
            outer_sizes.append(count)
            outer_labels.append(obj)
            outer_colours.append((*colour[:3], 0.55))
    total = sum(inner_sizes)
    figure, axes = plt.subplots(figsize=(11, 11))
    axes.pie(inner_sizes, radius=0.62, colors=inner_colours, labels=verbs, labeldistance=0.55,
             rotatelabels=True, textprops={"fontsize": 9},
             wedgeprops={"width": 0.38, "edgecolor": "white"}, startangle=90, counterclock=False)
    axes.pie(outer_sizes, radius=1.0, colors=outer_colours,
             labels=[label if size / total >= 0.006 else "" for label, size in zip(outer_labels, outer_sizes)],
             labeldistance=0.81, rotatelabels=True, textprops={"fontsize": 8},
             wedgeprops={"width": 0.38, "edgecolor": "white"}, startangle=90, counterclock=False)
    axes.set_title(f"{title}\n{pairs.height:,} instructions with a verb-object pair; "
                   f"the {len(verbs)} verbs shown cover {total:,} of them", fontsize=12)
    axes.set_aspect("equal")
    return _png(figure)
