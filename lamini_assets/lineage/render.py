"""The audit's answers as readable text: short headed sections and aligned tables (tabulate)."""

from __future__ import annotations

import json
from typing import Any

from tabulate import tabulate

CELL_CHARS = 100


def _cell(value: Any, width: int = CELL_CHARS) -> str:
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False, default=str)
    text = str(value).replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    if not rows:
        return "  (none)"
    columns = columns or list(rows[0])
    body = tabulate([[_cell(r.get(c)) for c in columns] for r in rows], headers=columns, tablefmt="simple",
                    disable_numparse=True)
    return "\n".join("  " + line for line in body.splitlines())


def _fields(pairs: list[tuple[str, Any]]) -> str:
    width = max(len(k) for k, _ in pairs)
    return "\n".join(f"  {k.ljust(width)}  {_cell(v, 400)}" for k, v in pairs)


def _block(text: str | None) -> str:
    return "\n".join("    | " + line for line in (text or "").splitlines()) or "    | (empty)"


def render_models(models: list[dict[str, Any]]) -> str:
    rows = [
        {**m, "sources": ", ".join(f"{s}={n:,}" for s, n in m["sources"].items()), "train_rows": f"{m['train_rows']:,}"}
        for m in models
    ]
    return f"{len(models)} checkpoint(s)\n" + _table(
        rows, ["student", "checkpoint_id", "dataset_version", "train_rows", "sources", "created_at", "run_id"]
    )


def render_model(m: dict[str, Any]) -> str:
    ckpt = m["checkpoint"]
    out = [f"model {m['student']} / checkpoint {m['checkpoint_id']}"]
    pairs = [
        ("dataset version", m["dataset_version"]),
        ("rows", ", ".join(f"{k} {v:,}" for k, v in m["rows"].items())),
        ("family", ckpt.get("family")),
        ("base", ckpt.get("base")),
        ("checkpoint", ckpt.get("uri")),
        ("base checkpoint", ckpt.get("base_uri")),
        ("created", ckpt.get("created_at")),
        ("config hash", ckpt.get("config_hash")),
        ("code version", ckpt.get("code_version")),
        ("train loss", ckpt.get("train_loss")),
        ("validation loss", ckpt.get("validation_loss")),
        ("run", " ".join(str(v) for v in (m["run"].get("run_id"), m["run"].get("job"), m["run"].get("status"),
                                          m["run"].get("started")) if v)),
        ("manifest", m["manifest"]["sql"]),
    ]
    out.append(_fields([(k, v) for k, v in pairs if v not in (None, "")]))
    out.append("\nsources (rows per split)")
    out.append(_table([{"instruction_source": s, **n} for s, n in m["sources"].items()],
                      ["instruction_source", "train", "validation", "test"]))
    out.append("\nteacher model(s) of the training rows")
    out.append(_table(m["teacher_models"], ["value", "rows"]))
    for fact, values in m["prompt_template_versions"].items():
        out.append(f"\n{fact}")
        out.append(_table(values, ["value", "rows"]))
    if ckpt.get("hyperparameters"):
        out.append("\nhyperparameters")
        hp = ckpt["hyperparameters"]
        out.append(_fields(sorted(hp.items())) if isinstance(hp, dict) and hp else f"  {_cell(hp)}")
    out.append("\nscores")
    out.append(_table(m["scores"], ["model_kind", "task", "metric", "value", "n_items"]))
    if m["other_checkpoints"]:
        out.append("\nother checkpoints of this student")
        out.append(_table(m["other_checkpoints"]))
    return "\n".join(out)


def render_instruction(answer: dict[str, Any]) -> str:
    out = [f"{len(answer['rows'])} row(s) matched by {answer['matched_by']}"]
    for row in answer["rows"]:
        d = row.get("dataset_row") or {}
        out.append(f"\nrow {row['row_id']}  instruction_id {row['instruction_id']}  source {row['instruction_source']}")
        if row.get("note"):
            out.append(f"  note: {row['note']}")
        if d:
            out.append("  instruction:")
            out.append(_block(d.get("instruction")))
            out.append("  response (what the students trained on):")
            out.append(_block(d.get("response")))
        out.append(f"  trained on by {len(row['models'])} model(s)")
        out.append(_table(row["models"], ["student", "checkpoint_id", "dataset_version", "split"]))
        origin = row.get("origin")
        if origin and origin["kind"] == "seed":
            out.append(f"  from the seed at {origin['origin']} (template {origin['template']})")
            if origin["seed_rows"]:
                out.append(_table(origin["seed_rows"]))
        elif origin:
            out.append(f"  from the generation call {origin['origin']} (cache key {origin['generation_cache_key']})")
            out.append(f"  topics: {', '.join(origin['topics']) or '(none)'}")
            out.append("  example seeds shown in that prompt:")
            out.append(_table(origin["example_seeds"],
                              ["instruction_id", "seed_source", "source_name", "instruction", "origin"]))
        teacher = row.get("teacher")
        if teacher:
            out.append(f"  teacher {teacher.get('teacher_model')} (finish_reason {teacher.get('finish_reason')})")
            for call in ("generation", "response"):
                exchange = teacher.get(call)
                if not exchange:
                    continue
                out.append(f"  {call} call {exchange['cache_key']}")
                request = exchange.get("request")
                if request:
                    for message in request.get("messages", []):
                        out.append(f"    [{message.get('role')}]")
                        out.append(_block(message.get("content")))
                    params = {k: v for k, v in request.items() if k != "messages"}
                    if params:
                        out.append(f"    params: {_cell(params, 400)}")
                else:
                    out.append("    request: (not stored)")
                answer_record = exchange.get("answer")
                if answer_record and call == "generation":
                    out.append("    teacher's reply:")
                    out.append(_block("\n".join(answer_record.get("texts", []))))
            if teacher.get("note"):
                out.append(f"  note: {teacher['note']}")
    return "\n".join(out)


def render_source(answer: dict[str, Any]) -> str:
    out = [f"instruction_source {answer['instruction_source']}: seen by {len(answer['models'])} model(s)"]
    out.append(_table(answer["models"], ["student", "checkpoint_id", "dataset_version", "train", "validation", "test",
                                         "rows_in_dataset_version"]))
    return "\n".join(out)


def render_diff(d: dict[str, Any]) -> str:
    a, b, t = d["a"], d["b"], d["totals"]
    out = [
        f"a: {a['student']} {a['checkpoint_id']} (dataset {a['dataset_version']})",
        f"b: {b['student']} {b['checkpoint_id']} (dataset {b['dataset_version']})",
        f"{d['split']} rows only in a: {t['only_a']:,}; only in b: {t['only_b']:,}; in both: {t['both']:,}",
        "",
        _table(d["sources"], ["instruction_source", "only_a", "only_b", "both"]),
    ]
    for side in ("a", "b"):
        rows = d[f"sample_only_{side}"]
        if rows:
            out.append(f"\nfirst rows only in {side}")
            out.append(_table(rows))
    return "\n".join(out)


def render_dataset(d: dict[str, Any]) -> str:
    out = [f"dataset version {d['version']}"]
    if d["record"]:
        out.append(_fields([(k, v) for k, v in d["record"].items() if k != "version"]))
    out.append(f"\nmodels trained on it: {len(d['models'])}")
    out.append(_table(d["models"]))
    out.append("\ndataset_card.md")
    out.append(d["card"] if d["card"] else "  (no card in the artifact store for this version)")
    return "\n".join(out)
