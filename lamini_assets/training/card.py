"""The model card (README.md in the Hugging Face layout: YAML metadata, then sections) of a checkpoint."""

from __future__ import annotations

from typing import Any

from huggingface_hub import ModelCardData

from lamini_assets.training.config import FROM_CONFIG, StudentSpec

PAPER = "https://arxiv.org/abs/2304.14402"


def _table(header: tuple[str, str], rows: list[tuple[str, Any]]) -> str:
    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in rows]
    return "\n".join(lines)


def model_card(spec: StudentSpec, summary: dict[str, Any]) -> str:
    """Card text from the spec and the run's summary (lineage, row counts, losses, hyperparameters)."""
    from_config = spec.base == FROM_CONFIG
    data = ModelCardData(
        language="en",
        library_name="transformers",
        pipeline_tag="text2text-generation" if spec.family == "encoder-decoder" else "text-generation",
        tags=["lamini-lm", "distillation", "instruction-tuning", spec.family] + (["lora"] if spec.lora else []),
        base_model=None if from_config else spec.base,
    )
    base = (f"`from_config`: a randomly initialised {'T5' if spec.family == 'encoder-decoder' else 'GPT-2'} "
            f"of {summary['parameters']:,} parameters with a BPE tokenizer trained on this checkpoint's training "
            f"rows; the untrained model is saved in `base/` for comparison") if from_config else f"`{spec.base}`"
    rows_by_source = summary["rows_by_source"]
    sources = [(source, f"{counts.get('train', 0):,} train / {counts.get('validation', 0):,} validation")
               for source, counts in sorted(rows_by_source.items())]
    losses = [("final train loss", summary["train_loss"]), ("validation loss", summary["validation_loss"]),
              ("optimiser steps", summary["global_step"]), ("epochs", summary["epochs"])]
    lineage = [("dataset version", f"`{summary['dataset_version']}`"), ("split", f"`{summary['split_hash']}`"),
               ("code version", f"`{summary['code_version']}`"), ("config hash", f"`{summary['config_hash']}`"),
               ("checkpoint id", f"`{summary['checkpoint_id']}`"), ("Dagster run", f"`{summary['run_id']}`")]
    teacher = ", ".join(f"`{name}`" for name in summary["teacher_models"]) or "(unknown)"
    prompt = ("LaMini's `instruction` text (task, then its input after a blank line)"
              if spec.family == "encoder-decoder" else "the instruction wrapped in the Alpaca prompt template")
    return f"""---
{data.to_yaml()}
---

# {spec.name}

A {spec.family} student distilled on LaMini-style instruction data ([LaMini-LM]({PAPER})) by lamini-assets.

## Model description

- **Base model:** {base}
- **Family:** {spec.family}
- **Input:** {prompt}; at most {spec.max_source_length} source and {spec.max_target_length} target tokens
- **Fine-tuning:** {"LoRA (r=%d, alpha=%d), adapters merged into the saved weights" % (spec.lora.r, spec.lora.alpha) if spec.lora else "full"}

## Training data

Responses from the teacher {teacher}; dataset version `{summary['dataset_version']}`. Rows by `instruction_source`:

{_table(("instruction_source", "rows"), sources)}

The exact rows are in the `training_manifest` table (student `{spec.name}`, checkpoint `{summary['checkpoint_id']}`).

## Training procedure

{_table(("hyperparameter", "value"), sorted(summary["hyperparameters"].items()))}

## Results

{_table(("metric", "value"), losses)}

Throughput: {summary['non_pad_tokens_per_second']:,.0f} non-pad tokens/s over {summary['wall_time_seconds']:.1f} s.

## Lineage

{_table(("what", "value"), lineage)}

## Framework versions

{_table(("package", "version"), sorted(summary["framework_versions"].items()))}
"""
