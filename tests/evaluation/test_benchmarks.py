"""Benchmarks through lm-eval on tiny students: the offline preset over the real LaMini samples,
extra benchmarks by config, the Alpaca wrapper, and the hub preset's task names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lamini_assets.evaluation.benchmarks import (
    LAMINI_SUITE,
    BenchmarkError,
    hub_suite,
    resolve_tasks,
    run_benchmarks,
    task_manager,
)
from lamini_assets.evaluation.config import BenchmarkConfig, ExtraBenchmark
from lamini_assets.evaluation.models import AlpacaHFLM, load_lm
from tests.support.paths import SHARED_DATA

SAMPLE_DIR = SHARED_DATA / "lamini_eval_sample"
OFFLINE_TASKS = ["openbookqa", "sciq", "race", "arc_challenge", "piqa", "sst2", "mrpc", "rte", "winogrande"]


def test_offline_preset_finds_every_sample_task_with_lamini_metrics() -> None:
    tasks = resolve_tasks(BenchmarkConfig(), Path("."))
    assert [t.name for t in tasks] == OFFLINE_TASKS
    metrics = {t.name: t.metric for t in tasks}
    assert metrics["arc_challenge"] == "acc_norm" and metrics["race"] == "acc" and metrics["winogrande"] == "acc"
    for task in tasks:
        assert task.spec["dataset_kwargs"]["data_files"]["test"] == str(SAMPLE_DIR / f"{task.name}.jsonl")
        assert task.source.startswith(f"local:{SAMPLE_DIR / task.name}.jsonl@")


def test_offline_preset_runs_only_the_tasks_found(tmp_path: Path) -> None:
    (tmp_path / "sst2.jsonl").write_text((SAMPLE_DIR / "sst2.jsonl").read_text())
    tasks = resolve_tasks(BenchmarkConfig(local_dir=str(tmp_path)), Path("."))
    assert [t.name for t in tasks] == ["sst2"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchmarkError, match="holds none of"):
        resolve_tasks(BenchmarkConfig(local_dir=str(tmp_path / "empty")), Path("."))
    with pytest.raises(BenchmarkError, match="is not a folder"):
        resolve_tasks(BenchmarkConfig(local_dir=str(tmp_path / "nowhere")), Path("."))


def test_hub_preset_names_lamini_15_registered_lm_eval_tasks() -> None:
    tasks = hub_suite()
    assert len(tasks) == 15 and {t.metric for t in tasks} == {"acc", "acc_norm", "f1"}
    assert {t.name: t.metric for t in tasks}["record"] == "f1"
    known = set(task_manager().all_tasks)
    assert {t.spec for t in tasks} <= known, sorted({t.spec for t in tasks} - known)


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_jsonl_benchmark_errors_name_file_line_and_field(tmp_path: Path) -> None:
    good = {"q": "Which is a fruit?", "options": ["apple", "brick"], "answer": "A"}
    cases = [
        ({"q": "x?", "options": ["a", "b"]}, "field 'answer' is missing"),
        ({**good, "answer": "Z"}, "points outside the 2 choices"),
        ({**good, "answer": "pear"}, "neither an index, a letter nor one of the choices"),
        ({**good, "options": ["only one"]}, "at least two text choices"),
    ]
    for bad, message in cases:
        path = _write_jsonl(tmp_path / "bench.jsonl", [good, bad])
        spec = ExtraBenchmark(name="mine", jsonl=str(path), question="q", choices="options", label="answer")
        with pytest.raises(BenchmarkError, match=f"{path}:2: .*{message}"):
            resolve_tasks(BenchmarkConfig(preset="none", extra=[spec]), tmp_path)
    with pytest.raises(ValueError, match="give exactly one of task_yaml or jsonl"):
        ExtraBenchmark(name="both", jsonl="a.jsonl", task_yaml="b.yaml", question="q", choices="c", label="l")
    with pytest.raises(ValueError, match="needs choices, label"):
        ExtraBenchmark(name="half", jsonl="a.jsonl", question="q")


def user_benchmarks(tmp_path: Path) -> list[ExtraBenchmark]:
    """A JSONL with its own field names, and a user's own lm-eval YAML with a relative data file."""
    jsonl = _write_jsonl(tmp_path / "capitals.jsonl", [
        {"prompt": f"What is the capital of {country}?", "a": right, "b": wrong, "gold": "a"}
        for country, right, wrong in [("France", "Paris", "Rome"), ("Italy", "Rome", "Paris"),
                                      ("Spain", "Madrid", "Lisbon"), ("Portugal", "Lisbon", "Madrid")]])
    (tmp_path / "yaml_task").mkdir()
    _write_jsonl(tmp_path / "yaml_task" / "yesno.jsonl", [{"text": f"Is {n} even?", "label": int(n % 2 == 0)} for n in range(6)])
    (tmp_path / "yaml_task" / "yesno.yaml").write_text(
        "task: my_yesno\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: yesno.jsonl\n"
        "test_split: test\noutput_type: multiple_choice\ndoc_to_text: \"{{text}}\\nAnswer:\"\n"
        "doc_to_choice: [\"no\", \"yes\"]\ndoc_to_target: label\nmetric_list:\n  - metric: acc\n")
    return [ExtraBenchmark(name="capitals", jsonl=str(jsonl), question="prompt", choices=["a", "b"], label="gold"),
            ExtraBenchmark(name="yesno", task_yaml="yaml_task/yesno.yaml")]


def _no_fork_pool(*args, **kwargs):
    raise AssertionError("a multiprocessing pool was started")


@pytest.mark.parametrize("student", ["t5_tiny", "gpt2_tiny"])
def test_every_task_scores_on_both_families(student: str, tiny_models, tmp_path: Path, monkeypatch) -> None:
    # F1's bootstrap must not fork a pool from a process running torch threads: it hung in CI.
    monkeypatch.delenv("DISABLE_MULTIPROC", raising=False)
    monkeypatch.setattr("multiprocessing.Pool", _no_fork_pool)
    config = BenchmarkConfig(extra=user_benchmarks(tmp_path), limit=4, batch_size=16)
    tasks = resolve_tasks(config, tmp_path)
    family = "encoder-decoder" if student == "t5_tiny" else "decoder-only"
    scores = run_benchmarks(load_lm(str(tiny_models[student]["distilled"]), family, 16), tasks, limit=4)
    reported = {(s.task, s.metric): s for s in scores}
    for task in tasks:
        score = reported[(task.name, task.metric)]
        assert 0.0 <= score.value <= 1.0 and score.n_items == 4 and score.source == task.source
    assert ("mrpc", "f1") in reported and ("capitals", "acc_norm") in reported and ("yesno", "acc") in reported


def test_alpaca_wrapper_changes_decoder_contexts(tiny_models) -> None:
    from lm_eval.api.instance import Instance

    path = str(tiny_models["gpt2_tiny"]["distilled"])
    plain, wrapped = load_lm(path, "decoder-only", 4), load_lm(path, "decoder-only", 4, alpaca=True)
    assert type(wrapped).__name__ == "_AlpacaHFLM" and type(AlpacaHFLM(pretrained=path, backend="causal", device="cpu")).__name__ == "_AlpacaHFLM"

    def request() -> Instance:
        return Instance(request_type="loglikelihood", doc={}, arguments=("Question: Is the sky blue?\nAnswer:", " yes"), idx=0)

    wrapped_request = request()
    (plain_ll, _), (wrapped_ll, _) = plain.loglikelihood([request()])[0], wrapped.loglikelihood([wrapped_request])[0]
    assert wrapped_request.arguments[0].startswith("Below is an instruction") and wrapped_request.arguments[1] == "yes"
    assert plain_ll != wrapped_ll
    # Encoder-decoder students are never wrapped.
    assert type(load_lm(str(tiny_models["t5_tiny"]["distilled"]), "encoder-decoder", 4, alpaca=True)).__name__ == "HFLM"


@pytest.mark.slow
def test_full_offline_suite_on_real_items(tiny_models) -> None:
    """All 9 sample tasks, every item (up to 200 each), on a tiny decoder-only student."""
    tasks = resolve_tasks(BenchmarkConfig(), Path("."))
    scores = run_benchmarks(load_lm(str(tiny_models["gpt2_tiny"]["distilled"]), "decoder-only", 32), tasks)
    counts = {s.task: s.n_items for s in scores}
    expected = {name: sum(1 for line in (SAMPLE_DIR / f"{name}.jsonl").read_text().splitlines() if line.strip())
                for name in OFFLINE_TASKS}
    assert counts == expected and all(n == 200 for n in counts.values())
    assert len({t.metric for t in tasks}) == 2 and all(0 <= s.value <= 1 for s in scores)
    assert [t.name for t in tasks] == [t.name for t in LAMINI_SUITE if t.name in OFFLINE_TASKS]
