"""A two-step job on the pipeline of LAMINI_CONFIG, for runs under the multiprocess executor
(dg.reconstructable needs a module-level function its step processes can import)."""

import dagster as dg

from lamini_assets.defs import build_definitions

TOPICS_AND_RANKS = ["wikipedia_topics", "seed_copy_ranks"]


def topics_and_ranks_job() -> dg.JobDefinition:
    defs = build_definitions()
    job = dg.define_asset_job("topics_and_ranks", selection=TOPICS_AND_RANKS)
    return dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=[job], resources=defs.resources,
                          executor=defs.executor).resolve_job_def("topics_and_ranks")
