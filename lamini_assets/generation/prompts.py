"""LaMini's generation prompts, planned as plain data the teacher client can send.

Sampling is by hashing, not by list position: call `i` of a partition ranks every candidate (seed
row, template family, topic) by a 64-bit hash of (seed, label, i, candidate) and takes the lowest.
So a plan is a pure function of (seed, rows, K), and
- planning K+1 calls repeats the first K calls exactly (their teacher answers stay cached);
- adding seed rows changes only the calls where a new row ranks among the lowest
  (about examples_per_prompt x new / total of them); removing rows changes only the calls that
  showed one. Input order of the rows never matters. Topics behave the same way.
P3/FLAN calls first pick one template family (lowest hash among families), then examples from that
family only. A family with fewer rows than `examples_per_prompt` is still picked, and its calls
show all the rows it has.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from lamini_assets.generation.config import GENERATED_LABEL_POOLS, GenerationConfig
from lamini_assets.schema import make_instruction_id

TEMPLATE_VERSION = "lamini-generation@1"
RESPONSE_TEMPLATE_VERSION = "lamini-response@1"

# Pools whose examples must come from a single template family.
_FAMILY_POOLS = frozenset({"p3", "flan"})

_INSTRUCTIONS_TAIL = (
    "You do not need to provide a response to the generated examples.\n"
    "Each example must include an instruction.\n"
    "Each generated instruction can be either an imperative sentence or a question.\n"
    'Each example must start with the label "<example>" and end with the label "</example>".'
)


@dataclass(frozen=True)
class GenerationCall:
    """One teacher call of a generated partition."""

    call_id: str  # stable hash of (label, call index, example ids, topics, template version)
    source_label: str  # the generated instruction_source label
    messages: tuple[dict[str, str], ...]
    template_version: str
    params: dict[str, Any]  # sampling parameters, including this call's `seed`
    example_ids: tuple[str, ...]  # instruction_id of each seed shown, in prompt order
    topics: tuple[str, ...]  # topics named in the prompt; empty without topics
    template: str = ""  # template (family) of the first example shown


def render_example(instruction: str, input_text: str = "") -> str:
    """A seed as LaMini shows it: `instruction:input`, or the instruction alone without input."""
    instruction = instruction.strip()
    input_text = input_text.strip()
    if not input_text:
        return instruction
    separator = "" if instruction.endswith(":") else ":"
    return f"{instruction}{separator}{input_text}"


def build_generation_prompt(examples: Sequence[str], num_instructions: int, topics: Sequence[str] = ()) -> str:
    """The example-guided prompt; with topics, the topic-guided one."""
    shown = "\n".join(f"<example>{example}</example>" for example in examples)
    topic_clause = f' with the topics "{", ".join(topics)}"' if topics else ""
    ask = f"Generate {num_instructions} diverse examples that are similar to the provided examples{topic_clause}."
    return f"{shown}\n{ask}\n{_INSTRUCTIONS_TAIL}"


def build_response_messages(
    instruction: str, input_text: str, system_prompt: str
) -> tuple[dict[str, str], ...]:
    """LaMini's response request: a system message asking for concise answers, then the task
    (instruction, a blank line and the input when there is one). Version: RESPONSE_TEMPLATE_VERSION."""
    user = f"{instruction}\n\n{input_text}" if input_text.strip() else instruction
    return ({"role": "system", "content": system_prompt}, {"role": "user", "content": user})


# A character Python's str.strip() keeps (checked over every code point): Rust regex's \s is Unicode
# White_Space, Python's isspace adds U+001C-U+001F. So the columnar twin below asks the same question
# as build_response_messages.
_NOT_PYTHON_WHITESPACE = r"[^\s\x1c-\x1f]"


def response_messages(instructions: pl.DataFrame, system_prompt: str) -> pl.Series:
    """build_response_messages for every row of a frame with `instruction` and `input`, as one
    List(Struct{role, content}) column (the same messages, without a Python object per row).

    Built as one interleaved column of 2n messages (system, user, system, ...) reshaped to n rows of
    two: `concat_list` of two struct expressions cost 10x more (3.0 s against 0.3 s of CPU at 600k rows).
    """
    user = pl.when(pl.col("input").str.contains(_NOT_PYTHON_WHITESPACE)) \
        .then(pl.concat_str(pl.col("instruction"), pl.lit("\n\n"), pl.col("input"))).otherwise(pl.col("instruction"))
    rows = instructions.height
    # Index 0 is the system prompt, index i + 1 row i's user message.
    order = np.zeros(2 * rows, dtype=np.int64)
    order[1::2] = np.arange(1, rows + 1)
    content = pl.concat([pl.Series([system_prompt], dtype=pl.String), instructions.select(user).to_series()])
    messages = pl.DataFrame({
        "role": pl.Series(["system", "user"], dtype=pl.String).gather(np.tile(np.array([0, 1]), rows)),
        "content": content.gather(order),
    }).select(pl.struct("role", "content").alias("messages")).to_series()
    return messages.reshape((rows, 2)).cast(pl.List(messages.dtype))


def _hash64(*parts: object) -> int:
    key = "\x1f".join(str(part) for part in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")


class _HashRanking:
    """Candidates ranked per call by a hash of (call key, candidate key): bottom-k sampling that
    does not depend on the candidates' order, and barely moves when candidates are added."""

    def __init__(self, keys: Sequence[str] | pl.Series) -> None:
        from lamini_assets import kernels  # numba: loaded by the steps that rank, not with the module
        from lamini_assets.sources.kernels import blake2b_8_hex

        # _hash64(key) of every key (one part), by the numba blake2b: the digest's hex back to its bytes, read
        # little-endian. 761k P3 ids: 0.8 s in a Python loop of hashlib.
        hexes = blake2b_8_hex(pl.Series("key", keys, dtype=pl.String)).str.decode("hex")
        digests = hexes.to_arrow(compat_level=pl.CompatLevel.oldest()).cast(pa.large_binary())
        self._hashes = np.frombuffer(digests.buffers()[2], dtype="<u8", count=len(digests),
                                     offset=8 * digests.offset).astype(np.uint64) if len(digests) else np.zeros(0, np.uint64)
        self._kernels = kernels

    def lowest(self, call_key: int, count: int) -> list[int]:
        """Indices of the `count` lowest-ranked candidates for this call, lowest first."""
        size = len(self._hashes)
        count = min(count, size)
        # Scores are uniform: the lowest `count` almost surely lie below a bound expecting ~4x as many,
        # so one fused pass keeps only those (exact either way: too few, and every score is kept).
        bound = min(2**64 - 1, (4 * count + 32) * 2**64 // size) if count < size else 2**64 - 1
        for limit in (bound, 2**64 - 1):
            capacity = size if limit == 2**64 - 1 else min(size, 8 * count + 64)
            indices, scores = np.empty(capacity, dtype=np.int64), np.empty(capacity, dtype=np.uint64)
            found = self._kernels.splitmix_scores_below(self._hashes, np.uint64(call_key), np.uint64(limit), indices, scores)
            if count <= found <= capacity:
                break
        indices, scores = indices[:found], scores[:found]
        chosen = np.argpartition(scores, count - 1)[:count] if count < found else np.arange(found)
        return [int(indices[i]) for i in sorted(chosen.tolist(), key=lambda i: int(scores[i]))]


SeedRows = pl.DataFrame | Sequence[Mapping[str, Any]]


def _seeds(rows: SeedRows, pool: str) -> pl.DataFrame:
    """Usable seed rows (instruction_id, instruction, input, template), one per instruction_id,
    sorted by id. Of rows sharing an id (the same text under two templates), the one with the first
    template in sort order stays: order-independent. Columnar: no Python object per row."""
    if not isinstance(rows, pl.DataFrame):
        rows = pl.DataFrame(
            [{name: row.get(name) for name in ("instruction_id", "instruction", "input", "template")} for row in rows],
            schema={name: pl.String() for name in ("instruction_id", "instruction", "input", "template")},
        )
    text = pl.col("instruction").cast(pl.String).fill_null("")
    frame = rows.select(
        pl.col("instruction_id").cast(pl.String) if "instruction_id" in rows.columns else pl.lit(None, pl.String).alias("instruction_id"),
        text.str.strip_chars().alias("instruction"),
        (pl.col("input").cast(pl.String).fill_null("") if "input" in rows.columns else pl.lit("")).alias("input"),
        (pl.col("template").cast(pl.String).fill_null("") if "template" in rows.columns else pl.lit("")).alias("template"),
    )
    empty = (frame["instruction"].str.len_chars() == 0).arg_true()
    if len(empty):
        raise ValueError(f"seed row {empty[0]} of pool {pool!r}: field instruction is empty")
    missing = frame["instruction_id"].is_null().arg_true()
    if len(missing):  # only rows without an id get one computed in Python
        computed = [make_instruction_id(frame["instruction"][i], frame["input"][i]) for i in missing.to_list()]
        frame = frame.with_columns(frame["instruction_id"].scatter(missing, computed))
    return frame.sort("instruction_id", "template").unique("instruction_id", keep="first", maintain_order=True)


def plan_generation_calls(
    source_label: str,
    seed_rows: SeedRows,
    num_calls: int,
    config: GenerationConfig,
    topics: Sequence[str] = (),
) -> list[GenerationCall]:
    """The first `num_calls` teacher calls of one generated partition.

    `seed_rows` are the rows of the label's seed pool (a frame or dicts with instruction, input,
    template and preferably instruction_id). `topics` are required for `self_instruct_with_topic` only.
    """
    if source_label not in GENERATED_LABEL_POOLS:
        raise ValueError(f"unknown generated label {source_label!r}; expected one of {sorted(GENERATED_LABEL_POOLS)}")
    pool = GENERATED_LABEL_POOLS[source_label]
    seeds = _seeds(seed_rows, pool)
    if num_calls > 0 and seeds.is_empty():
        raise ValueError(f"{source_label}: the {pool!r} seed pool is empty")
    with_topics = source_label == "self_instruct_with_topic"
    topic_titles = sorted({title.strip() for title in topics if title.strip()}) if with_topics else []
    if with_topics and num_calls > 0 and not topic_titles:
        raise ValueError(f"{source_label}: needs topics, none given")

    if num_calls <= 0:
        return []
    by_family = seeds.partition_by("template", as_dict=True) if pool in _FAMILY_POOLS else {("",): seeds}
    families = {str(key[0]): members for key, members in by_family.items()}
    family_names = sorted(families)
    family_ranking = _HashRanking(family_names)
    seed_rankings = {name: _HashRanking(members["instruction_id"]) for name, members in families.items()}
    topic_ranking = _HashRanking(topic_titles)
    num_instructions = config.instructions_per_call[pool]
    call_keys = [_hash64(config.seed, source_label, index) for index in range(num_calls)]
    call_families = [family_names[family_ranking.lowest(_hash64(key, "family"), 1)[0]] for key in call_keys]

    def examples_of(call_key: int, family: str) -> list[int]:
        return seed_rankings[family].lowest(_hash64(call_key, "examples"), config.examples_per_prompt)

    # Each call's ranking scans its whole family (466k-1.3M seeds) in a kernel that releases the GIL: threads.
    from lamini_assets.kernels import worker_threads  # numba, loaded by _HashRanking above

    with ThreadPoolExecutor(max_workers=worker_threads()) as pool_threads:
        call_examples = list(pool_threads.map(examples_of, call_keys, call_families))

    calls: list[GenerationCall] = []
    for index, (call_key, family, ranked) in enumerate(zip(call_keys, call_families, call_examples)):
        members = families[family]
        shown = members[ranked]
        chosen_topics = tuple(
            topic_titles[i] for i in topic_ranking.lowest(_hash64(call_key, "topics"), config.topics_per_prompt)
        ) if with_topics else ()
        example_ids = tuple(shown["instruction_id"])
        examples = [render_example(text, input_text) for text, input_text in zip(shown["instruction"], shown["input"])]
        prompt = build_generation_prompt(examples, num_instructions, chosen_topics)
        params = {**config.sampling.model_dump(), "seed": call_key % 2**31}
        call_id = hashlib.blake2b(
            "\x1f".join([source_label, str(index), ",".join(example_ids), ",".join(chosen_topics), TEMPLATE_VERSION])
            .encode("utf-8"),
            digest_size=8,
        ).hexdigest()
        calls.append(
            GenerationCall(
                call_id=call_id,
                source_label=source_label,
                messages=({"role": "user", "content": prompt},),
                template_version=TEMPLATE_VERSION,
                params=params,
                example_ids=example_ids,
                topics=chosen_topics,
                template=shown["template"][0],
            )
        )
    return calls
