"""The audit's answers, as plain JSON-able dicts: which data trained which model, and back.

Every question reads the contract tables (student_checkpoints, training_manifest, lamini_dataset,
dataset_versions, seed_instructions, eval_scores) and the lineage index built from them
(lamini_assets.lineage.index). User input is always a bound parameter, never SQL text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from lamini_assets.lineage.index import (
    CHECKPOINTS_TABLE,
    DATASET_TABLE,
    MANIFEST_TABLE,
    SPLITS,
    IndexStatus,
    ensure_index,
)
from lamini_assets.schema import INSTRUCTION_SOURCES, make_instruction_id
from lamini_assets.warehouse import table_exists

SEEDS_TABLE = "seed_instructions"
SCORES_TABLE = "eval_scores"
VERSIONS_TABLE = "dataset_versions"
TEACHER_REQUESTS_TABLE = "teacher_requests"
DEFAULT_SAMPLE = 10


class UnknownName(LookupError):
    """A student, checkpoint, instruction, source or dataset version the tables do not know."""


@dataclass
class AuditSources:
    """Where the answers that are not tables come from; each may be missing (then it says so)."""

    # cache_key -> the request the teacher got (messages, sampling params): ResponseCache.get_requests
    teacher_requests: Callable[[list[str]], dict[str, dict[str, Any]]] | None = None
    # cache_key -> the cached answer (text, finish reason, model, tokens, time)
    teacher_answers: Callable[[list[str]], dict[str, dict[str, Any]]] | None = None
    # dataset version -> its dataset_card.md text, or None when it has none
    dataset_card: Callable[[str], str | None] | None = None
    # run id -> what the Dagster instance knows about that run
    run_info: Callable[[str], dict[str, Any] | None] | None = None
    notes: list[str] = field(default_factory=list)


def _records(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    columns = [d[0] for d in cursor.description or []]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _json_value(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class Audit:
    """Answers over one open DuckDB connection (read-only is enough)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, sources: AuditSources | None = None) -> None:
        self.conn = conn
        self.sources = sources or AuditSources()
        self.index: IndexStatus = ensure_index(conn)
        self._checkpoints = _records(conn.execute("select * from lineage_checkpoints order by ordinal"))
        self._by_ordinal = {c["ordinal"]: c for c in self._checkpoints}

    # ---- models -------------------------------------------------------------------------------
    def models(self) -> list[dict[str, Any]]:
        """Every indexed checkpoint: student, dataset version, rows per split, sources, created, run."""
        sources = self._sources_by_checkpoint()
        return [
            {
                "student": c["student"],
                "checkpoint_id": c["checkpoint_id"],
                "dataset_version": c["dataset_version"],
                "train_rows": c["train_rows"],
                "validation_rows": c["validation_rows"],
                "test_rows": c["test_rows"],
                "sources": {s: n["train"] for s, n in sources.get(c["checkpoint_id"], {}).items() if n["train"]},
                "created_at": c["created_at"],
                "run_id": c["run_id"],
            }
            for c in sorted(self._checkpoints, key=lambda c: (c["student"], c["created_at"] or "", c["checkpoint_id"]))
        ]

    def _sources_by_checkpoint(self, checkpoint_id: str | None = None) -> dict[str, dict[str, dict[str, int]]]:
        where, params = ("where checkpoint_id = ?", [checkpoint_id]) if checkpoint_id else ("", [])
        found: dict[str, dict[str, dict[str, int]]] = {}
        for ckpt, source, split, rows in self.conn.execute(
            f"select checkpoint_id, instruction_source, split, rows from lineage_sources {where} order by all", params
        ).fetchall():
            per_split = found.setdefault(ckpt, {}).setdefault(source, dict.fromkeys(SPLITS, 0))
            per_split[split] = int(rows)
        return found

    def resolve_model(self, name: str) -> dict[str, Any]:
        """A checkpoint by its id, or a student's latest checkpoint by the student's name."""
        for c in self._checkpoints:
            if c["checkpoint_id"] == name:
                return c
        of_student = [c for c in self._checkpoints if c["student"] == name]
        if of_student:
            return max(of_student, key=lambda c: (c["created_at"] or "", c["ordinal"]))
        students = sorted({c["student"] for c in self._checkpoints})
        raise UnknownName(
            f"no student or checkpoint named {name!r}; trained students: {', '.join(students) or '(none)'}"
        )

    # ---- model --------------------------------------------------------------------------------
    def model(self, name: str) -> dict[str, Any]:
        """Everything that made one checkpoint: data, teacher, templates, versions, run, scores."""
        c = self.resolve_model(name)
        ckpt = c["checkpoint_id"]
        record: dict[str, Any] = {}
        if table_exists(self.conn, CHECKPOINTS_TABLE):
            rows = _records(self.conn.execute(
                f"select * from main.{CHECKPOINTS_TABLE} where checkpoint_id = ? and student = ?", [ckpt, c["student"]]
            ))
            record = {k: _json_value(v) for k, v in rows[-1].items()} if rows else {}
        facts: dict[str, list[dict[str, Any]]] = {}
        for fact, value, rows in self.conn.execute(
            "select fact, value, sum(rows)::bigint from lineage_facts where checkpoint_id = ? and split = 'train' "
            "group by all order by fact, 3 desc, value",
            [ckpt],
        ).fetchall():
            facts.setdefault(fact, []).append({"value": value, "rows": int(rows)})
        scores: list[dict[str, Any]] = []
        if table_exists(self.conn, SCORES_TABLE):
            scores = _records(self.conn.execute(
                f"select model_kind, task, metric, value, n_items, dataset_version, created_at::varchar as created_at, run_id "
                f"from main.{SCORES_TABLE} where checkpoint_id = ? order by model_kind, task, metric",
                [ckpt],
            ))
        run_id = record.get("run_id") or c["run_id"]
        return {
            "student": c["student"],
            "checkpoint_id": ckpt,
            "dataset_version": c["dataset_version"],
            "rows": {"train": c["train_rows"], "validation": c["validation_rows"], "test": c["test_rows"]},
            "sources": self._sources_by_checkpoint(ckpt).get(ckpt, {}),
            "teacher_models": facts.pop("teacher_model", []),
            "prompt_template_versions": facts,
            "checkpoint": record,
            "run": {"run_id": run_id, **((self.sources.run_info(run_id) or {}) if self.sources.run_info and run_id else {})},
            "scores": scores,
            "manifest": {
                "table": f"main.{MANIFEST_TABLE}",
                "sql": f"select * from main.{MANIFEST_TABLE} where checkpoint_id = '{ckpt}'",
            },
            "other_checkpoints": [
                {"checkpoint_id": o["checkpoint_id"], "dataset_version": o["dataset_version"], "created_at": o["created_at"]}
                for o in self._checkpoints if o["student"] == c["student"] and o["checkpoint_id"] != ckpt
            ],
        }

    # ---- instruction --------------------------------------------------------------------------
    def _index_rows(self, column: str, values: Sequence[str]) -> list[dict[str, Any]]:
        if not values:
            return []
        if column == "row_id":
            return _records(self.conn.execute(
                "select * from lineage_rows where row_id in (select unnest(?)) order by row_id", [list(values)]
            ))
        return _records(self.conn.execute(
            "select r.* from lineage_instruction_rows i join lineage_rows r using (row_id) "
            "where i.instruction_id in (select unnest(?)) order by r.row_id",
            [list(values)],
        ))

    def _dataset_rows(self, column: str, value: str) -> list[dict[str, Any]]:
        if not table_exists(self.conn, DATASET_TABLE):
            return []
        column = {"row_id": "row_id", "instruction_id": "instruction_id"}[column]
        return _records(self.conn.execute(f"select * from main.{DATASET_TABLE} where {column} = ?", [value]))

    def _matched_rows(self, query: str) -> tuple[str, list[dict[str, Any]]]:
        """(how the query matched, index rows), trying row_id, instruction_id, then the text."""
        for column in ("row_id", "instruction_id"):
            rows = self._index_rows(column, [query])
            if rows:
                return column, rows
        # Text: the ids it would have as an instruction alone or as "instruction\n\ninput".
        candidates = {make_instruction_id(query, "")}
        parts = query.split("\n\n")
        for cut in range(1, len(parts)):
            candidates.add(make_instruction_id("\n\n".join(parts[:cut]), "\n\n".join(parts[cut:])))
        rows = self._index_rows("instruction_id", sorted(candidates))
        if rows:
            return "text", rows
        return "", []

    def instruction(self, query: str) -> dict[str, Any]:
        """Every model that trained on an instruction, where it came from, and the teacher's exchange."""
        matched_by, rows = self._matched_rows(query)
        untrained: list[dict[str, Any]] = []
        if not rows:
            # In the dataset but in no manifest: no model saw it, which is an answer too.
            for column in ("row_id", "instruction_id"):
                untrained = self._dataset_rows(column, query)
                if untrained:
                    matched_by = column
                    break
            if not untrained:
                raise UnknownName(
                    f"no row_id, instruction_id or instruction text {query[:80]!r} in any training manifest "
                    f"or in {DATASET_TABLE}"
                )
        answers = [self._row_answer(r) for r in rows]
        answers += [self._row_answer({"row_id": d["row_id"], "instruction_id": d["instruction_id"],
                                      "instruction_source": d["instruction_source"]}, details=d) for d in untrained]
        return {"query": query, "matched_by": matched_by, "rows": answers}

    def _models_of(self, index_row: dict[str, Any]) -> list[dict[str, Any]]:
        models = []
        for split in SPLITS:
            mask = index_row.get(f"{split}_mask") or ""
            for position, bit in enumerate(mask):
                if bit == "1":
                    c = self._by_ordinal[position]
                    models.append({"student": c["student"], "checkpoint_id": c["checkpoint_id"],
                                   "dataset_version": c["dataset_version"], "split": split})
        return sorted(models, key=lambda m: (m["student"], m["checkpoint_id"]))

    def _row_answer(self, index_row: dict[str, Any], details: dict[str, Any] | None = None) -> dict[str, Any]:
        if details is None and table_exists(self.conn, DATASET_TABLE):
            found = _records(self.conn.execute(
                f"select * from main.{DATASET_TABLE} where instruction_source = ? and instruction_id = ? and row_id = ?",
                [index_row["instruction_source"], index_row["instruction_id"], index_row["row_id"]],
            ))
            details = found[0] if found else None
        answer: dict[str, Any] = {
            "row_id": index_row["row_id"],
            "instruction_id": index_row["instruction_id"],
            "instruction_source": index_row["instruction_source"],
            "models": self._models_of(index_row),
            "dataset_row": details,
        }
        if details is None:
            answer["note"] = f"row {index_row['row_id']} is no longer in {DATASET_TABLE} (a dataset version since replaced it)"
            return answer
        answer["origin"] = self._origin(details)
        answer["teacher"] = self._teacher_exchange(details)
        return answer

    def _origin(self, row: dict[str, Any]) -> dict[str, Any]:
        """The seed a row passed through, or the generation call that wrote it with its examples and topics."""
        generation_key = row.get("generation_cache_key")
        seeds_exist = table_exists(self.conn, SEEDS_TABLE)
        if not generation_key:
            seed = []
            if seeds_exist:
                seed = _records(self.conn.execute(
                    f"select seed_source, source_name, template, origin from main.{SEEDS_TABLE} where instruction_id = ?",
                    [row["instruction_id"]],
                ))
            return {"kind": "seed", "origin": row.get("origin"), "template": row.get("template"), "seed_rows": seed}
        example_ids = list(row.get("example_ids") or [])
        examples: list[dict[str, Any]] = []
        if seeds_exist and example_ids:
            found = {
                r["instruction_id"]: r
                for r in _records(self.conn.execute(
                    f"select instruction_id, seed_source, source_name, instruction, input, template, origin "
                    f"from main.{SEEDS_TABLE} where instruction_id in (select unnest(?))",
                    [example_ids],
                ))
            }
            examples = [found.get(i, {"instruction_id": i, "note": f"not in {SEEDS_TABLE}"}) for i in example_ids]
        else:
            examples = [{"instruction_id": i} for i in example_ids]
        return {
            "kind": "generation",
            "origin": row.get("origin"),
            "generation_cache_key": generation_key,
            "template": row.get("template"),
            "example_seeds": examples,
            "topics": list(row.get("topics") or []),
        }

    def _teacher_exchange(self, row: dict[str, Any]) -> dict[str, Any]:
        """The exact requests (response call, generation call) and the answers, by cache key."""
        keys = {"response": row.get("cache_key"), "generation": row.get("generation_cache_key")}
        wanted = [k for k in keys.values() if k]
        requests = self._teacher_requests(wanted)
        answers = self.sources.teacher_answers(wanted) if self.sources.teacher_answers and wanted else {}
        exchange: dict[str, Any] = {"teacher_model": row.get("teacher_model"), "finish_reason": row.get("finish_reason")}
        for call, key in keys.items():
            if not key:
                continue
            exchange[call] = {
                "cache_key": key,
                "request": requests.get(key),
                "answer": answers.get(key),
            }
        exchange["response"]["trained_text"] = row.get("response")
        if not requests and wanted:
            exchange["note"] = "the teacher's requests are not stored for these calls (older cache entries, or no cache)"
        return exchange

    def _teacher_requests(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """Requests from the teacher cache, then from a `teacher_requests` table for keys still missing."""
        found: dict[str, dict[str, Any]] = {}
        if keys and self.sources.teacher_requests is not None:
            found.update(self.sources.teacher_requests(keys))
        missing = [k for k in keys if k not in found]
        if missing and table_exists(self.conn, TEACHER_REQUESTS_TABLE):
            rows = _records(self.conn.execute(
                f"select * from main.{TEACHER_REQUESTS_TABLE} where cache_key in (select unnest(?))", [missing]
            ))
            found.update({r.pop("cache_key"): {k: _json_value(v) for k, v in r.items()} for r in rows})
        return found

    # ---- source -------------------------------------------------------------------------------
    def source(self, label: str) -> dict[str, Any]:
        """The models that saw one instruction_source, with row counts per split."""
        rows = self.conn.execute(
            "select checkpoint_id, split, rows from lineage_sources where instruction_source = ? order by all", [label]
        ).fetchall()
        if not rows and label not in INSTRUCTION_SOURCES:
            raise UnknownName(f"unknown instruction_source {label!r}; the labels are {', '.join(INSTRUCTION_SOURCES)}")
        in_dataset = self._dataset_source_rows()
        per_model: dict[str, dict[str, Any]] = {}
        by_id = {c["checkpoint_id"]: c for c in self._checkpoints}
        for ckpt, split, count in rows:
            c = by_id[ckpt]
            entry = per_model.setdefault(ckpt, {
                "student": c["student"], "checkpoint_id": ckpt, "dataset_version": c["dataset_version"],
                **dict.fromkeys(SPLITS, 0),
                "rows_in_dataset_version": in_dataset.get(c["dataset_version"], {}).get(label),
            })
            entry[split] = int(count)
        return {"instruction_source": label, "models": sorted(per_model.values(), key=lambda m: (m["student"], m["checkpoint_id"]))}

    def _dataset_source_rows(self) -> dict[str, dict[str, int]]:
        if not table_exists(self.conn, VERSIONS_TABLE):
            return {}
        found = {}
        for version, per_source in self.conn.execute(f"select version, rows_per_source from main.{VERSIONS_TABLE}").fetchall():
            parsed = _json_value(per_source) if isinstance(per_source, str) else per_source
            found[version] = parsed if isinstance(parsed, dict) else {}
        return found

    # ---- diff ---------------------------------------------------------------------------------
    def diff(self, a: str, b: str, split: str = "train", sample: int = DEFAULT_SAMPLE) -> dict[str, Any]:
        """Rows and sources in one model's `split` set and not the other's, with a sample of each side."""
        if split not in SPLITS:
            raise UnknownName(f"unknown split {split!r}; the splits are {', '.join(SPLITS)}")
        first, second = self.resolve_model(a), self.resolve_model(b)
        mask = f"{split}_mask"
        ka, kb = first["ordinal"], second["ordinal"]
        # One pass: rows per (source, in a, in b); two bit reads a row.
        counts: dict[str, dict[str, int]] = {}
        for source, in_a, in_b, rows in self.conn.execute(
            f"select instruction_source, get_bit({mask}, ?::integer), get_bit({mask}, ?::integer), count(*) "
            "from lineage_rows group by all",
            [ka, kb],
        ).fetchall():
            side = {(1, 0): "only_a", (0, 1): "only_b", (1, 1): "both"}.get((in_a, in_b))
            if side:
                entry = counts.setdefault(source, {"instruction_source": source, "only_a": 0, "only_b": 0, "both": 0})
                entry[side] += int(rows)
        per_source = [counts[s] for s in sorted(counts)]
        bit_a, bit_b = f"get_bit({mask}, ?::integer) = 1", f"get_bit({mask}, ?::integer) = 1"

        def sample_rows(inside: int, outside: int) -> list[dict[str, Any]]:
            if sample <= 0:
                return []
            return _records(self.conn.execute(
                f"select row_id, instruction_id, instruction_source from lineage_rows "
                f"where {bit_a} and not {bit_b} order by row_id limit ?",
                [inside, outside, sample],
            ))

        def describe(c: dict[str, Any]) -> dict[str, Any]:
            return {"student": c["student"], "checkpoint_id": c["checkpoint_id"], "dataset_version": c["dataset_version"]}

        return {
            "a": describe(first),
            "b": describe(second),
            "split": split,
            "totals": {k: sum(s[k] for s in per_source) for k in ("only_a", "only_b", "both")},
            "sources": per_source,
            "sample_only_a": sample_rows(ka, kb),
            "sample_only_b": sample_rows(kb, ka),
        }

    # ---- dataset ------------------------------------------------------------------------------
    def dataset(self, version: str) -> dict[str, Any]:
        """A dataset version's record, its card, and the models trained on it."""
        record: dict[str, Any] | None = None
        if table_exists(self.conn, VERSIONS_TABLE):
            if version == "latest":
                rows = _records(self.conn.execute(
                    f"select * from main.{VERSIONS_TABLE} order by created_at desc limit 1"))
            else:
                rows = _records(self.conn.execute(f"select * from main.{VERSIONS_TABLE} where version = ?", [version]))
            record = {k: _json_value(v) for k, v in rows[0].items()} if rows else None
        models = [c for c in self._checkpoints if c["dataset_version"] == (record or {}).get("version", version)]
        if record is None and not models:
            known = []
            if table_exists(self.conn, VERSIONS_TABLE):
                known = [r[0] for r in self.conn.execute(
                    f"select version from main.{VERSIONS_TABLE} order by created_at desc limit 10").fetchall()]
            raise UnknownName(f"unknown dataset version {version!r}; recent versions: {', '.join(known) or '(none)'}")
        resolved = (record or {}).get("version", version)
        card = self.sources.dataset_card(resolved) if self.sources.dataset_card else None
        return {
            "version": resolved,
            "record": record,
            "card": card,
            "models": [{"student": c["student"], "checkpoint_id": c["checkpoint_id"], "train_rows": c["train_rows"]}
                       for c in models],
        }
