"""The leaderboard: LaMini-style tables (each distilled student beside its base) and bar charts."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import polars as pl

from lamini_assets.evaluation.benchmarks import SUITE_BY_NAME
from lamini_assets.evaluation.instruction import GRADES

ROUGE_TASK = "instruction_following"
JUDGE_TASK = "teacher_judge"
KIND_ORDER = {"base": 0, "distilled": 1}


@dataclass
class Leaderboard:
    markdown: dict[str, str]  # section name -> markdown table
    charts: dict[str, bytes] = field(default_factory=dict)  # file name -> PNG bytes
    summary: pl.DataFrame = field(default_factory=pl.DataFrame)  # one row per model: tasks, average

    def as_markdown(self) -> str:
        return "\n\n".join(f"### {name}\n\n{table}" for name, table in self.markdown.items())


def _title(task: str) -> str:
    return SUITE_BY_NAME[task].title if task in SUITE_BY_NAME else task


def _model_label(student: str, kind: str) -> str:
    return f"{student} ({kind})"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def benchmark_frame(scores: pl.DataFrame) -> pl.DataFrame:
    """The reported metric of every benchmark per model (one row per student, kind, task)."""
    return (scores.filter(pl.col("reported") & ~pl.col("task").is_in([ROUGE_TASK, JUDGE_TASK]))
            .select("student", "model_kind", "checkpoint_id", "dataset_version", "task", "metric", "value", "n_items"))


def build_leaderboard(scores: pl.DataFrame, human: pl.DataFrame | None = None) -> Leaderboard:
    """Tables and charts from eval_scores rows (and human rating distributions, if any)."""
    bench = benchmark_frame(scores)
    tasks = list(dict.fromkeys(bench["task"].to_list()))
    models = sorted({(r[0], r[1]) for r in bench.select("student", "model_kind").iter_rows()} |
                    {(r[0], r[1]) for r in scores.select("student", "model_kind").iter_rows()},
                    key=lambda m: (m[0], KIND_ORDER.get(m[1], 9)))
    value = {(r["student"], r["model_kind"], r["task"]): r["value"] for r in bench.iter_rows(named=True)}
    markdown: dict[str, str] = {}
    summary_rows = []
    rows = []
    for student, kind in models:
        values = [value.get((student, kind, task)) for task in tasks]
        present = [v for v in values if v is not None]
        average = sum(present) / len(present) if present else None
        rows.append([_model_label(student, kind), *[_pct(v) for v in values], _pct(average)])
        summary_rows.append({"student": student, "model_kind": kind, "average": average,
                             **{task: v for task, v in zip(tasks, values, strict=True)}})
    if tasks:
        metric_of = dict(bench.select("task", "metric").unique().iter_rows())
        header = ["Model", *[f"{_title(t)} ({metric_of[t]})" for t in tasks], "Average"]
        markdown["Benchmarks (zero-shot lm-eval, %)"] = _table(header, rows)
        for task in tasks:
            task_rows = []
            for student in sorted({s for s, _ in models}):
                base, distilled = value.get((student, "base", task)), value.get((student, "distilled", task))
                delta = None if base is None or distilled is None else distilled - base
                n = bench.filter((pl.col("task") == task) & (pl.col("student") == student))["n_items"]
                task_rows.append([student, _pct(base), _pct(distilled),
                                  "–" if delta is None else f"{100 * delta:+.1f}", str(n.max() if n.len() else "–")])
            markdown[f"{_title(task)} ({metric_of[task]}, %)"] = _table(
                ["Student", "Base", "Distilled", "Δ", "Items"], task_rows)
    markdown.update(_instruction_tables(scores, models))
    if human is not None and not human.is_empty():
        markdown["Human ratings (share of answers, %)"] = _distribution_table(
            {(r["student"], r["model_kind"]): ({g: r[g] for g in GRADES}, r["n"]) for r in human.iter_rows(named=True)},
            models)
    board = Leaderboard(markdown, summary=pl.DataFrame(summary_rows) if summary_rows else pl.DataFrame())
    if tasks:
        board.charts["benchmarks.png"] = _benchmark_chart(tasks, models, value)
    judge = _judge_distributions(scores)
    human_dist = ({(r["student"], r["model_kind"]): {g: r[g] for g in GRADES} for r in human.iter_rows(named=True)}
                  if human is not None and not human.is_empty() else {})
    if judge or human_dist:
        board.charts["ratings.png"] = _ratings_chart(models, {k: v[0] for k, v in judge.items()}, human_dist)
    return board


def _judge_distributions(scores: pl.DataFrame) -> dict[tuple[str, str], tuple[dict[str, float], int]]:
    judged = scores.filter(pl.col("task") == JUDGE_TASK)
    out: dict[tuple[str, str], tuple[dict[str, float], int]] = {}
    for (student, kind), group in judged.group_by("student", "model_kind"):
        shares = dict(group.select("metric", "value").iter_rows())
        out[(student, kind)] = ({g: shares.get(g, 0.0) for g in GRADES}, int(group["n_items"].max()))
    return out


def _distribution_table(dist: dict[tuple[str, str], tuple[dict[str, float], int]], models: list[tuple[str, str]]) -> str:
    rows = [[_model_label(s, k), *[_pct(dist[(s, k)][0][g]) for g in GRADES], str(dist[(s, k)][1])]
            for s, k in models if (s, k) in dist]
    return _table(["Model", *GRADES, "Rated"], rows)


def _instruction_tables(scores: pl.DataFrame, models: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    rouge = {(r["student"], r["model_kind"]): (r["value"], r["n_items"])
             for r in scores.filter((pl.col("task") == ROUGE_TASK) & (pl.col("metric") == "rouge_l")).iter_rows(named=True)}
    if rouge:
        rows = []
        for student in sorted({s for s, _ in rouge}):
            base, distilled = rouge.get((student, "base")), rouge.get((student, "distilled"))
            rows.append([student, _pct(base[0] if base else None), _pct(distilled[0] if distilled else None),
                         str((distilled or base)[1])])
        out["Instruction following: ROUGE-L vs the teacher on the held-out split (%)"] = _table(
            ["Student", "Base", "Distilled", "Items"], rows)
    judge = _judge_distributions(scores)
    if judge:
        out["Teacher judge ratings (share of answers, %)"] = _distribution_table(judge, models)
    return out


def _benchmark_chart(tasks: list[str], models: list[tuple[str, str]], value: dict) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    columns = [*tasks, "average"]
    width = 0.8 / max(len(models), 1)
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(columns) + 2), 4.5))
    x = np.arange(len(columns))
    colors = plt.get_cmap("tab20")
    for i, (student, kind) in enumerate(models):
        values = [value.get((student, kind, t)) for t in tasks]
        present = [v for v in values if v is not None]
        values.append(sum(present) / len(present) if present else None)
        heights = [100 * v if v is not None else 0 for v in values]
        # Each student's pair shares a hue: light for the base, dark for the distilled model.
        student_index = sorted({s for s, _ in models}).index(student)
        color = colors(2 * student_index + (1 if kind == "base" else 0))
        ax.bar(x + (i - (len(models) - 1) / 2) * width, heights, width, label=_model_label(student, kind),
               color=color, edgecolor="black", linewidth=0.4, hatch="//" if kind == "base" else None)
    ax.set_xticks(x, [_title(t) for t in tasks] + ["Average"], rotation=30, ha="right")
    ax.set_ylabel("score (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Zero-shot benchmarks: each distilled student beside its base")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def _ratings_chart(models: list[tuple[str, str]], judge: dict, human: dict) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(name, dist) for name, dist in (("Teacher judge", judge), ("Human raters", human)) if dist]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 0.6 * len(models) + 2.4), squeeze=False)
    grade_colors = {"A": "#2ca02c", "B": "#98df8a", "C": "#ffbb78", "D": "#d62728"}
    for ax, (name, dist) in zip(axes[0], panels, strict=True):
        labels = [_model_label(s, k) for s, k in models if (s, k) in dist]
        left = [0.0] * len(labels)
        for grade in GRADES:
            shares = [100 * dist[(s, k)][grade] for s, k in models if (s, k) in dist]
            ax.barh(labels, shares, left=left, color=grade_colors[grade], label=grade, edgecolor="white")
            left = [a + b for a, b in zip(left, shares, strict=True)]
        ax.set_xlim(0, 100)
        ax.set_xlabel("share of answers (%)")
        ax.set_title(f"{name}: A (valid, satisfying) to D (invalid)")
        ax.invert_yaxis()
        ax.legend(ncol=4, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    fig.tight_layout()
    return _png(fig)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()
