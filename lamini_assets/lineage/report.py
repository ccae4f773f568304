"""The lineage report: for every student, what trained its latest checkpoint, as markdown."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from lamini_assets.lineage.audit import Audit

CARD_CHARS = 4000


def student_lineage(audit: Audit) -> list[dict[str, Any]]:
    """The `model` answer for each student's latest checkpoint, students in name order."""
    students = sorted({m["student"] for m in audit.models()})
    return [audit.model(student) for student in students]


def lineage_version(audit: Audit) -> str:
    """A content hash of what the index holds (checkpoints and their row counts): the report's data version."""
    material = [(m["checkpoint_id"], m["dataset_version"], m["train_rows"], m["validation_rows"], m["test_rows"])
                for m in audit.models()]
    return hashlib.sha256(json.dumps(material).encode("utf-8")).hexdigest()[:16]


def lineage_report_markdown(lineage: list[dict[str, Any]], cards: dict[str, str | None]) -> str:
    """One section per student (sources with counts, dataset version, teacher, manifest), then the cards."""
    if not lineage:
        return "No student has been trained yet."
    lines = ["# Lineage: which data trained which model", ""]
    for m in lineage:
        ckpt = m["checkpoint"]
        lines += [
            f"## {m['student']}: checkpoint `{m['checkpoint_id']}`",
            "",
            f"- dataset version: `{m['dataset_version']}`",
            f"- teacher: " + ", ".join(f"{t['value']} ({t['rows']:,} rows)" for t in m["teacher_models"]),
            f"- rows: " + ", ".join(f"{split} {n:,}" for split, n in m["rows"].items()),
            f"- checkpoint: `{ckpt.get('uri', '?')}` (run `{m['run'].get('run_id')}`)",
            f"- manifest: `{m['manifest']['sql']}`",
        ]
        for fact, values in m["prompt_template_versions"].items():
            lines.append(f"- {fact}: " + ", ".join(f"{v['value']} ({v['rows']:,})" for v in values))
        lines += ["", "| instruction_source | train | validation | test |", "|---|---:|---:|---:|"]
        for source, per_split in m["sources"].items():
            lines.append(f"| {source} | {per_split['train']:,} | {per_split['validation']:,} | {per_split['test']:,} |")
        if m["other_checkpoints"]:
            lines += ["", "Earlier checkpoints: " + ", ".join(f"`{o['checkpoint_id']}`" for o in m["other_checkpoints"])]
        lines.append("")
    lines += ["## Dataset cards", ""]
    for version in sorted(cards):
        card = cards[version]
        lines += [f"### `{version}`", ""]
        if card is None:
            lines.append("(no dataset_card.md in the artifact store for this version)")
        else:
            lines.append(card if len(card) <= CARD_CHARS else card[:CARD_CHARS] + "\n\n(card truncated)")
        lines.append("")
    return "\n".join(lines)
