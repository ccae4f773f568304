"""`lamini-audit`: which data trained which model, from the shell.

    lamini-audit models                        every checkpoint: student, dataset version, rows, sources
    lamini-audit model <student|checkpoint>    what made it: sources, teacher, templates, versions, run, scores
    lamini-audit instruction <id|row_id|text>  the models that trained on it, its seed or generation call,
                                               the teacher's exact prompt and answer
    lamini-audit source <label>                the models that saw one instruction_source, with counts
    lamini-audit diff <a> <b>                  rows and sources in one training set and not the other
    lamini-audit dataset <version|latest>      a dataset version, its card and the models trained on it

Add --json for machine-readable output and --db PATH for another DuckDB file (default: the pipeline
config's, from LAMINI_CONFIG / LAMINI_STATE_DIR). The file is opened read-only. Exit codes: 0 answered,
2 unknown name, 1 nothing to audit (no file, no trained student, the file held by a writer).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import duckdb

from lamini_assets.lineage import render
from lamini_assets.lineage.audit import DEFAULT_SAMPLE, Audit, AuditSources, UnknownName
from lamini_assets.lineage.index import SPLITS, LineageUnavailable
from lamini_assets.lineage.runs import run_info

EXIT_UNKNOWN = 2
EXIT_UNAVAILABLE = 1


class _LazyConfig:
    """The pipeline config, loaded only by the commands that need it (it costs seconds to import)."""

    def __init__(self) -> None:
        self._config: Any = None
        self.error: str | None = None

    def get(self) -> Any:
        if self._config is None and self.error is None:
            from lamini_assets.config import ConfigError, load_config

            try:
                self._config = load_config()
            except ConfigError as error:
                self.error = str(error)
        return self._config


def _teacher_sources(config: _LazyConfig, sources: AuditSources) -> None:
    loaded = config.get()
    if loaded is None:
        sources.notes.append(f"teacher cache not read: {config.error}")
        return
    directory = Path(loaded.teacher_cache_dir)
    if not directory.is_dir():
        sources.notes.append(f"no teacher cache at {directory}")
        return
    from lamini_assets.teacher.cache import ResponseCache

    cache = ResponseCache(directory)
    sources.teacher_answers = lambda keys: {k: asdict(v) for k, v in cache.get_many(keys).items()}
    get_requests = getattr(cache, "get_requests", None)
    if get_requests is not None:
        sources.teacher_requests = get_requests


def _card_source(config: _LazyConfig, sources: AuditSources) -> None:
    loaded = config.get()
    if loaded is None:
        sources.notes.append(f"dataset card not read: {config.error}")
        return
    store = loaded.artifact_store()

    def card(version: str) -> str | None:
        key = f"lamini_dataset/{version}/dataset_card.md"
        return store.read_bytes(key).decode("utf-8") if store.exists(key) else None

    sources.dataset_card = card


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS, help="DuckDB file (default: the pipeline config's)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    parser = argparse.ArgumentParser(
        prog="lamini-audit", parents=[common], description="Which data trained which model.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n")[1],
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    commands.add_parser("models", parents=[common], help="every checkpoint")
    commands.add_parser("model", parents=[common], help="one student's latest checkpoint, or a checkpoint").add_argument("name")
    commands.add_parser("instruction", parents=[common], help="by instruction_id, row_id or exact text").add_argument("query")
    commands.add_parser("source", parents=[common], help="the models that saw an instruction_source").add_argument("label")
    diff = commands.add_parser("diff", parents=[common], help="rows in one training set and not the other")
    diff.add_argument("a")
    diff.add_argument("b")
    diff.add_argument("--split", choices=SPLITS, default="train")
    diff.add_argument("--sample", type=int, default=DEFAULT_SAMPLE, help="rows listed per side (0: none)")
    commands.add_parser("dataset", parents=[common], help="a dataset version and its card").add_argument("version")
    return parser


def _answer(audit: Audit, args: argparse.Namespace) -> tuple[Any, str]:
    if args.command == "models":
        found = audit.models()
        return found, render.render_models(found)
    if args.command == "model":
        found = audit.model(args.name)
        return found, render.render_model(found)
    if args.command == "instruction":
        found = audit.instruction(args.query)
        return found, render.render_instruction(found)
    if args.command == "source":
        found = audit.source(args.label)
        return found, render.render_source(found)
    if args.command == "diff":
        found = audit.diff(args.a, args.b, split=args.split, sample=args.sample)
        return found, render.render_diff(found)
    found = audit.dataset(args.version)
    return found, render.render_dataset(found)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    as_json = getattr(args, "json", False)
    config = _LazyConfig()
    db = getattr(args, "db", None)
    if db is None:
        loaded = config.get()
        if loaded is None:
            print(f"lamini-audit: {config.error}; pass --db PATH", file=sys.stderr)
            return EXIT_UNAVAILABLE
        db = loaded.duckdb_path
    db_path = Path(db)
    if not db_path.is_file():
        print(f"lamini-audit: no DuckDB file at {db_path} (run the pipeline first, or pass --db)", file=sys.stderr)
        return EXIT_UNAVAILABLE

    sources = AuditSources(run_info=run_info)
    if args.command == "instruction":
        _teacher_sources(config, sources)
    if args.command == "dataset":
        _card_source(config, sources)
    try:
        conn = duckdb.connect(str(db_path), read_only=True)
    except duckdb.IOException as error:
        print(f"lamini-audit: cannot open {db_path} read-only: {error}\n"
              "(a run holding the file as its writer blocks readers until it finishes)", file=sys.stderr)
        return EXIT_UNAVAILABLE
    try:
        audit = Audit(conn, sources)
        if audit.index.rebuilt_because:
            print(f"lamini-audit: {audit.index.rebuilt_because}; indexed the manifests in memory for this answer",
                  file=sys.stderr)
        found, text = _answer(audit, args)
    except UnknownName as error:
        print(f"lamini-audit: {error}", file=sys.stderr)
        return EXIT_UNKNOWN
    except LineageUnavailable as error:
        print(f"lamini-audit: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    finally:
        conn.close()
    for note in sources.notes:
        print(f"lamini-audit: {note}", file=sys.stderr)
    print(json.dumps(found, indent=2, ensure_ascii=False, default=str) if as_json else text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
