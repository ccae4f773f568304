"""Benchmarks through lm-evaluation-harness's Python API (`lm_eval.simple_evaluate`).

A benchmark is a `BenchmarkTask`: the leaderboard's task name, the metric shown, and what lm-eval
loads (a registered task name for hub runs, or an inline task config loaded from a YAML whose data
files point at local files). Hub and offline runs go through the same `simple_evaluate` call.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lamini_assets.evaluation.config import BenchmarkConfig, ExtraBenchmark

TASKS_DIR = Path(__file__).resolve().parent / "tasks"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_LOCAL_DIR = PROJECT_ROOT.parent / "shared" / "data" / "lamini_eval_sample"


@dataclass(frozen=True)
class SuiteTask:
    """One task of LaMini's suite: its lm-eval name, the paper's column title and reported metric."""

    name: str
    title: str
    metric: str


# LaMini-LM (arXiv 2304.14402) Table 5: zero-shot lm-eval, acc_norm where the harness offers it for
# multiple choice with unequal answer lengths, F1 for ReCoRD, accuracy elsewhere.
LAMINI_SUITE: tuple[SuiteTask, ...] = (
    SuiteTask("openbookqa", "OpenBookQA", "acc_norm"),
    SuiteTask("sciq", "SciQ", "acc_norm"),
    SuiteTask("race", "RACE", "acc"),
    SuiteTask("arc_challenge", "ARC-C", "acc_norm"),
    SuiteTask("piqa", "PIQA", "acc_norm"),
    SuiteTask("record", "ReCoRD", "f1"),
    SuiteTask("sst2", "SST", "acc"),
    SuiteTask("mrpc", "MRPC", "acc"),
    SuiteTask("rte", "RTE", "acc"),
    SuiteTask("mnli", "MNLI", "acc"),
    SuiteTask("mnli_mismatch", "MNLI-mm", "acc"),
    SuiteTask("wsc273", "WSC273", "acc"),
    SuiteTask("winogrande", "WinoGrande", "acc"),
    SuiteTask("wic", "WiC", "acc"),
    SuiteTask("hellaswag", "HellaSwag", "acc_norm"),
)
SUITE_BY_NAME = {task.name: task for task in LAMINI_SUITE}


class BenchmarkError(ValueError):
    """A benchmark that cannot be set up; the message names the file, line or key."""


@dataclass(frozen=True)
class BenchmarkTask:
    name: str  # the leaderboard's task name (LaMini's lm-eval name for suite tasks)
    title: str
    metric: str
    spec: str | dict[str, Any]  # what lm-eval's TaskManager loads: a registered name or an inline config
    source: str  # "hub:<lm-eval task>" or "local:<file>@<sha256 prefix>": where the items came from

    @property
    def lm_eval_name(self) -> str:
        return self.spec if isinstance(self.spec, str) else self.spec["task"]


def _file_version(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _local_yaml_task(yaml_path: Path, data_file: Path, name: str, title: str, metric: str) -> BenchmarkTask:
    from lm_eval.tasks._yaml_loader import load_yaml

    config = load_yaml(yaml_path, resolve_func=True)
    config["dataset_kwargs"] = {**config.get("dataset_kwargs", {}), "data_files": {"test": str(data_file)}}
    return BenchmarkTask(name, title, metric, config, f"local:{data_file}@{_file_version(data_file)}")


def offline_suite(local_dir: Path) -> list[BenchmarkTask]:
    """Every task of LaMini's suite with a `<task>.jsonl` in local_dir, through the package's YAMLs."""
    if not local_dir.is_dir():
        raise BenchmarkError(f"evaluation.benchmarks.local_dir: {local_dir} is not a folder")
    tasks = []
    for suite_task in LAMINI_SUITE:
        data_file = local_dir / f"{suite_task.name}.jsonl"
        yaml_path = TASKS_DIR / f"{suite_task.name}.yaml"
        if data_file.is_file() and yaml_path.is_file():
            tasks.append(_local_yaml_task(yaml_path, data_file, suite_task.name, suite_task.title, suite_task.metric))
    if not tasks:
        raise BenchmarkError(
            f"evaluation.benchmarks.local_dir: {local_dir} holds none of "
            f"{', '.join(t.name + '.jsonl' for t in LAMINI_SUITE)}")
    return tasks


def hub_suite() -> list[BenchmarkTask]:
    """LaMini's 15 tasks as lm-eval registers them (datasets downloaded from the hub)."""
    return [BenchmarkTask(t.name, t.title, t.metric, t.name, f"hub:{t.name}") for t in LAMINI_SUITE]


def _label_index(value: Any, choices: list[str], where: str) -> int:
    if isinstance(value, bool):
        raise BenchmarkError(f"{where}: label {value!r} is a boolean, not a choice")
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        index = int(value)
    elif isinstance(value, str) and value in choices:
        index = choices.index(value)
    elif isinstance(value, str) and len(value.strip()) == 1 and value.strip().upper().isalpha():
        index = ord(value.strip().upper()) - ord("A")
    else:
        raise BenchmarkError(f"{where}: label {value!r} is neither an index, a letter nor one of the choices")
    if not 0 <= index < len(choices):
        raise BenchmarkError(f"{where}: label {value!r} points outside the {len(choices)} choices")
    return index


def _read_jsonl_items(spec: ExtraBenchmark, path: Path) -> None:
    """Check every line before lm-eval sees the file: errors name the file, line and field."""
    if not path.is_file():
        raise BenchmarkError(f"benchmark {spec.name}: jsonl {path} does not exist")
    count = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as error:
            raise BenchmarkError(f"{where}: not valid JSON: {error.msg}") from error
        fields = [spec.question, spec.label] + ([spec.choices] if isinstance(spec.choices, str) else list(spec.choices))
        for field in fields:
            if field not in doc:
                raise BenchmarkError(f"{where}: field '{field}' is missing")
        choices = _choices_of(spec, doc)
        if len(choices) < 2 or not all(isinstance(c, str) for c in choices):
            raise BenchmarkError(f"{where}: field '{spec.choices}' must give at least two text choices")
        _label_index(doc[spec.label], choices, f"{where}: field '{spec.label}'")
        count += 1
    if count == 0:
        raise BenchmarkError(f"benchmark {spec.name}: {path} has no items")


def _choices_of(spec: ExtraBenchmark, doc: dict) -> list[str]:
    if isinstance(spec.choices, str):
        value = doc[spec.choices]
        return list(value) if isinstance(value, list) else []
    return [doc[field] for field in spec.choices]


def _jsonl_task(spec: ExtraBenchmark, path: Path) -> BenchmarkTask:
    _read_jsonl_items(spec, path)
    question, label = spec.question, spec.label

    def doc_to_choice(doc: dict) -> list[str]:
        return _choices_of(spec, doc)

    def doc_to_target(doc: dict) -> int:
        return _label_index(doc[label], doc_to_choice(doc), f"{path}: field '{label}'")

    def doc_to_text(doc: dict) -> str:
        return f"Question: {doc[question]}\nAnswer:"

    config = {
        "task": f"lamini_jsonl_{spec.name}",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(path)}},
        "test_split": "test",
        "output_type": "multiple_choice",
        "doc_to_text": doc_to_text,
        "doc_to_choice": doc_to_choice,
        "doc_to_target": doc_to_target,
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                        {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1.0},
    }
    return BenchmarkTask(spec.name, spec.name, spec.metric, config, f"local:{path}@{_file_version(path)}")


def _yaml_task(spec: ExtraBenchmark, path: Path) -> BenchmarkTask:
    from lm_eval.tasks._yaml_loader import load_yaml

    if not path.is_file():
        raise BenchmarkError(f"benchmark {spec.name}: task_yaml {path} does not exist")
    try:
        config = load_yaml(path, resolve_func=True)
    except Exception as error:  # yaml, include and !function errors alike
        raise BenchmarkError(f"benchmark {spec.name}: {path}: {error}") from error
    if not isinstance(config.get("task"), str):
        raise BenchmarkError(f"benchmark {spec.name}: {path}: key 'task' must name one task")
    data_files = config.get("dataset_kwargs", {}).get("data_files")
    # Relative data files in a user's YAML are relative to the YAML, not to wherever the run starts.
    if isinstance(data_files, dict):
        config["dataset_kwargs"]["data_files"] = {
            split: str(path.parent / f) if isinstance(f, str) and not Path(f).is_absolute() else f
            for split, f in data_files.items()}
    elif isinstance(data_files, str) and not Path(data_files).is_absolute():
        config["dataset_kwargs"]["data_files"] = str(path.parent / data_files)
    return BenchmarkTask(spec.name, spec.name, spec.metric, config, f"yaml:{path}@{_file_version(path)}")


def resolve_tasks(config: BenchmarkConfig, base_dir: Path) -> list[BenchmarkTask]:
    """The configured preset's tasks, then the extra benchmarks, in leaderboard order."""
    def resolve(path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else base_dir / p

    if config.preset == "lamini_offline":
        local_dir = resolve(config.local_dir) if config.local_dir else DEFAULT_LOCAL_DIR
        tasks = offline_suite(local_dir.resolve())
    elif config.preset == "lamini_15":
        tasks = hub_suite()
    else:
        tasks = []
    for spec in config.extra:
        if spec.name in {t.name for t in tasks}:
            raise BenchmarkError(f"benchmark {spec.name}: the name is already a task of preset {config.preset}")
        tasks.append(_yaml_task(spec, resolve(spec.task_yaml)) if spec.task_yaml else
                     _jsonl_task(spec, resolve(spec.jsonl)))
    return tasks


@functools.cache
def task_manager() -> Any:
    """The one lm-eval TaskManager of this process: indexing every task YAML takes seconds.

    The package's task folder is on its include path, so `lamini_local_*` names resolve too.
    """
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(TASKS_DIR))


@dataclass(frozen=True)
class BenchmarkScore:
    task: str
    metric: str
    value: float
    stderr: float | None
    n_items: int
    source: str


def run_benchmarks(lm: Any, tasks: Sequence[BenchmarkTask], limit: int | None = None) -> list[BenchmarkScore]:
    """Zero-shot scores of one lm-eval model on every task: each task's reported metric first."""
    from lm_eval import simple_evaluate

    if not tasks:
        return []
    # lm-eval bootstraps F1's stderr in a fork()ed multiprocessing pool; forking a process with torch's
    # threads running hung at the pool's exit in CI (600 s timeout). 100 draws in-process take well under 1 s.
    os.environ.setdefault("DISABLE_MULTIPROC", "1")
    output = simple_evaluate(
        model=lm,
        tasks=[task.spec for task in tasks],
        num_fewshot=0,
        limit=limit,
        task_manager=task_manager(),
        log_samples=False,
        bootstrap_iters=100,  # only metrics without a closed-form stderr (F1) bootstrap; 1000 took 10 s a task
    )
    scores: list[BenchmarkScore] = []
    for task in tasks:
        result = output["results"][task.lm_eval_name]
        n_items = int(output["n-samples"][task.lm_eval_name]["effective"])
        metrics = {key.split(",")[0]: value for key, value in result.items()
                   if "," in key and not key.split(",")[0].endswith("_stderr")}
        if task.metric not in metrics:
            raise BenchmarkError(f"benchmark {task.name}: lm-eval reported {sorted(metrics)}, not {task.metric!r}")
        for metric in [task.metric, *sorted(set(metrics) - {task.metric})]:
            stderr = result.get(f"{metric}_stderr,none")
            scores.append(BenchmarkScore(task.name, metric, float(metrics[metric]),
                                         float(stderr) if isinstance(stderr, (int, float)) else None,
                                         n_items, task.source))
    return scores
