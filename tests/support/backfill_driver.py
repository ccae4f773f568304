"""One backfill in its own process: `python -m tests.support.backfill_driver PARTITION...`.

Materialises instructions and instruction_rejects, then every response shard, for each source in turn into the
instance of DAGSTER_HOME, with the config of LAMINI_CONFIG (as a second user's backfill would).
"""

import sys

import dagster as dg

from lamini_assets.defs import build_definitions
from tests.support.dagster_runs import materialize_source

if __name__ == "__main__":
    defs = build_definitions()
    instance = dg.DagsterInstance.get()
    for partition in sys.argv[1:]:
        results = materialize_source(defs, partition, instance=instance)
        print(partition, all(result.success for result in results), flush=True)
