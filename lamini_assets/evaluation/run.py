"""The evaluation script Dagster launches through Pipes (as training is launched): it imports
dagster_pipes, never dagster, so it can run on another host (PipesK8sClient, PipesECSClient).

    python -m lamini_assets.evaluation.run            # launched by the eval_scores asset (job in extras)
    python -m lamini_assets.evaluation.run job.json   # by hand, with a job file
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lamini_assets.evaluation.runner import evaluate_job


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        evaluate_job(json.loads(Path(argv[1]).read_text(encoding="utf-8")))
        return 0
    from dagster_pipes import open_dagster_pipes

    with open_dagster_pipes() as pipes:
        job = pipes.get_extra("job")
        result = evaluate_job(job, log=pipes.log.info)
        pipes.report_custom_message({"output": job["output"], "scores": len(result["scores"]),
                                     "answers": len(result["answers"]), "seconds": result["seconds"]})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
