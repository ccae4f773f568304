"""One backfill in its own process: `python -m tests.support.backfill_driver PARTITION...`.

Materialises instructions, instruction_rejects and responses for each partition in turn into the
instance of DAGSTER_HOME, with the config of LAMINI_CONFIG (as a second user's backfill would).
"""

import sys

import dagster as dg

from lamini_assets.defs import build_definitions
from tests.support.dagster_runs import materialize

TEACHER_ASSETS = ["instructions", "instruction_rejects", "responses"]

if __name__ == "__main__":
    defs = build_definitions()
    instance = dg.DagsterInstance.get()
    for partition in sys.argv[1:]:
        result = materialize(defs, TEACHER_ASSETS, partition, instance=instance)
        print(partition, result.success, flush=True)
