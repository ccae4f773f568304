"""The evaluation script Dagster launches through Pipes (as training is launched): it imports
dagster_pipes, never dagster, so it can run on another host (PipesK8sClient, PipesECSClient): it reads
the checkpoints from and writes its result to the artifact store at the job's `store_root` (S3 or a folder).

    python -m lamini_assets.evaluation.run            # launched by the eval_scores asset (job in extras)
    python -m lamini_assets.evaluation.run job.json   # by hand, with a job file
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lamini_assets.evaluation.runner import run_store_job


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        run_store_job(json.loads(Path(argv[1]).read_text(encoding="utf-8")))
        return 0
    from lamini_assets.compute.pipes_channel import open_pipes

    with open_pipes() as pipes:  # the S3 channel when launched on k8s/ECS, local files otherwise
        job = pipes.get_extra("job")
        result = run_store_job(job, log=pipes.log.info)
        pipes.report_custom_message({"output_key": job["output_key"], "scores": len(result["scores"]),
                                     "answers": len(result["answers"]), "seconds": result["seconds"]})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
