"""A step in the `teacher` pool that holds it (partition `hold`) or passes quickly (`quick`), for the
test that kills a run holding the pool. Each step writes `<partition>.started` into POOL_TEST_MARKERS."""

import os
import time
from pathlib import Path

import dagster as dg

# lamini_assets.defs.resources.TEACHER_POOL, written out: importing the pipeline would slow every
# process of the test (the test checks the two agree).
TEACHER_POOL = "teacher"
pool_partitions = dg.StaticPartitionsDefinition(["hold", "quick"])


@dg.asset(partitions_def=pool_partitions, pool=TEACHER_POOL)
def teacher_pool_step(context: dg.AssetExecutionContext) -> None:
    Path(os.environ["POOL_TEST_MARKERS"], f"{context.partition_key}.started").write_text(str(os.getpid()))
    if context.partition_key == "hold":
        time.sleep(600)


defs = dg.Definitions(assets=[teacher_pool_step])
