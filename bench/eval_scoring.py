"""Log-likelihood scoring throughput of the benchmark path on tiny students: ours (batch 32, the
config default) against lm-eval's HFLM default (batch 1). Both go through lm-eval's own request
ordering (longest first, so each batch pads little); only the batch size differs. The requests are
built once from the real items (lm-eval's own task objects) and only `lm.loglikelihood` is timed, so
task loading and dataset reading (a one-off cost, printed apart) do not dilute the ratio.

    lenv python bench/eval_scoring.py [items_per_task]

Prints examples/s (benchmark items) and requests/s (one request per answer choice) per setting,
and the ratio against lm-eval's default, in the same run.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lamini_assets.evaluation.benchmarks import resolve_tasks, task_manager  # noqa: E402
from lamini_assets.evaluation.config import BenchmarkConfig  # noqa: E402
from lamini_assets.evaluation.models import load_lm  # noqa: E402
from tests.support.tiny_students import save_tiny_gpt2, save_tiny_t5  # noqa: E402

TASKS = ["arc_challenge", "piqa", "sst2", "rte", "winogrande", "race"]
LM_EVAL_DEFAULT_BATCH = 1  # HFLM(batch_size=1) and the CLI's --batch_size default
OUR_BATCH = BenchmarkConfig().batch_size


def requests_for(items: int) -> tuple[list, int]:
    """lm-eval's loglikelihood requests for the first `items` of each task, and the number of items."""
    tasks = [t for t in resolve_tasks(BenchmarkConfig(), Path(".")) if t.name in TASKS]
    started = time.perf_counter()
    loaded = task_manager().load([t.spec for t in tasks])["tasks"]
    requests = []
    for task in loaded.values():
        task.build_all_requests(limit=items, rank=0, world_size=1)
        requests.extend(task.instances)
    print(f"tasks: {', '.join(loaded)}; {items} items each; {len(requests)} requests; "
          f"one-off task index + dataset load + request build: {time.perf_counter() - started:.1f} s")
    return requests, items * len(loaded)


def main() -> None:
    items = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    logging.disable(logging.WARNING)
    requests, examples = requests_for(items)
    with tempfile.TemporaryDirectory() as folder:
        students = {"gpt2 (decoder-only)": (save_tiny_gpt2(Path(folder) / "gpt2"), "decoder-only"),
                    "t5 (encoder-decoder)": (save_tiny_t5(Path(folder) / "t5"), "encoder-decoder")}
        for label, (path, family) in students.items():
            figures = {}
            for batch in (LM_EVAL_DEFAULT_BATCH, 8, OUR_BATCH, 64):
                lm = load_lm(str(path), family, batch)
                batch_requests = [copy.copy(r) for r in requests]
                started = time.perf_counter()
                lm.loglikelihood(batch_requests, disable_tqdm=True)
                seconds = time.perf_counter() - started
                figures[batch] = examples / seconds
                print(f"{label:22s} batch {batch:3d}: {seconds:6.1f} s, {examples / seconds:7.1f} examples/s, "
                      f"{len(requests) / seconds:7.1f} requests/s")
            ratio = figures[OUR_BATCH] / figures[LM_EVAL_DEFAULT_BATCH]
            print(f"{label}: ours (batch {OUR_BATCH}) vs lm-eval default (batch {LM_EVAL_DEFAULT_BATCH}): {ratio:.2f}x")


if __name__ == "__main__":
    main()
