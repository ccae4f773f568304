"""Streaming parse + LaMini's filter of a Wikipedia `category` table dump the size of the real one.

    .lamini/venv/bin/python bench/topics_dump.py [--rows 2300000]

Writes a synthetic gzipped MediaWiki dump (INSERT lines of ~2,000 rows, titles with underscores,
escaped quotes and commas, heavy-tailed counts so a few hundred pass LaMini's filter) to a temp folder,
then times `select_topics` on it. Prints seconds, rows per second, peak RSS and the topics kept.
"""

from __future__ import annotations

import argparse
import gzip
import random
import resource
import tempfile
import time
from pathlib import Path

from lamini_assets.generation.topics import select_topics

ROWS_PER_INSERT = 2_000
WORDS = ("Design", "bureaus", "Conidae", "Infantry", "People", "from", "Ohio", "Jazz", "albums", "Rivers",
         "of", "France", "Opera", "houses", "1990s", "films", "O'Brien", "family", "Tokyo,", "Japan")


def write_dump(path: Path, rows: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with gzip.open(path, "wt", encoding="utf-8") as dump:
        dump.write("-- MySQL dump\nCREATE TABLE `category` (cat_id int, cat_title varbinary(255));\n")
        for start in range(0, rows, ROWS_PER_INSERT):
            values = []
            for cat_id in range(start, min(start + ROWS_PER_INSERT, rows)):
                title = "_".join(rng.choice(WORDS) for _ in range(rng.choice((1, 2, 2, 3, 4))))
                title = title.replace("'", "\\'") + f"_{cat_id}" * (rng.random() < 0.5)
                pages, subcats = int(rng.paretovariate(1.2)), int(rng.paretovariate(1.5))
                values.append(f"({cat_id + 1},'{title}',{pages},{subcats},0)")
            dump.write("INSERT INTO `category` VALUES " + ",".join(values) + ";\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_300_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "category.sql.gz"
        started = time.perf_counter()
        write_dump(path, args.rows)
        print(f"wrote {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB gzipped) in {time.perf_counter() - started:.1f} s")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        selection = select_topics(path, "sql_dump")
        seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"parsed and filtered in {seconds:.1f} s ({args.rows / seconds:,.0f} rows/s), "
          f"peak RSS {peak_mb:.0f} MB ({rss_before:.0f} MB before parsing)")
    print("counts:", selection.counts)


if __name__ == "__main__":
    main()
