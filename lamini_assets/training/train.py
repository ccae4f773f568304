"""Train one student on one split of one dataset version; report back through Dagster Pipes.

    python -m lamini_assets.training.train --job job.json       # or --job '{"student": ...}'

Dagster launches this with Pipes (a subprocess here, a Kubernetes pod or an ECS task on a GPU host);
run by hand, the Pipes context warns once and every report becomes a no-op. It imports
`dagster_pipes`, never `dagster`. The artifact store is the job's `store_root`: an S3 bucket (read the
split, publish the checkpoint there) or a local/mounted folder.

Resuming is the default mode: the trainer saves a checkpoint every `save_steps` steps in the job's
work dir, and a rerun of the same job (same checkpoint id) continues from the last one. A job whose
checkpoint is already published only reports it again.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import shutil
import sys
import time
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from dagster_pipes import PipesContext

from lamini_assets.artifacts import ArtifactStore, store_at
from lamini_assets.compute.pipes_channel import open_pipes
from lamini_assets.training.job import (
    BASE_SUBFOLDER,
    JOB_FILE,
    LOSS_CURVE_FILE,
    SUMMARY_FILE,
    TrainingJob,
)
from lamini_assets.training.split import SEEN_SPLITS


def open_store(job: TrainingJob) -> ArtifactStore:
    """The artifact store the job names: S3 (boto3's default client on this host) or a local/mounted folder."""
    return store_at(job.store_root, job.cache_dir or Path(job.work_dir) / "artifact_cache")


def read_rows(store: ArtifactStore, job: TrainingJob) -> Any:
    import polars as pl

    rows = pl.read_parquet(io.BytesIO(store.read_bytes(job.split_key)))  # one object, local or on S3
    spec = job.spec
    return rows.filter(pl.col("instruction_source").is_in(spec.sources) & pl.col("split").is_in(list(SEEN_SPLITS)))


def loss_curve_png(log_history: list[dict[str, Any]], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(entry["step"], entry["loss"]) for entry in log_history if "loss" in entry]
    evaluation = [(entry["step"], entry["eval_loss"]) for entry in log_history if "eval_loss" in entry]
    figure, axes = plt.subplots(figsize=(6, 3.5), dpi=100)
    if train:
        axes.plot(*zip(*train), label="train loss")
    if evaluation:
        axes.plot(*zip(*evaluation), "o", label="validation loss")
    axes.set_xlabel("optimiser step")
    axes.set_ylabel("cross-entropy")
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def report(pipes: PipesContext, summary: dict[str, Any], curve_uri: str, curve_png: bytes) -> None:
    """One materialisation of the student's partition, with the loss curve inline and by path."""
    image = base64.b64encode(curve_png).decode("ascii")
    pipes.report_asset_materialization(
        metadata={
            "loss_curve": {"raw_value": f"![loss curve](data:image/png;base64,{image})", "type": "md"},
            "loss_curve_path": {"raw_value": curve_uri, "type": "path"},
            "checkpoint_uri": {"raw_value": summary["uri"], "type": "path"},
            "summary": {"raw_value": summary, "type": "json"},
            **{name: summary[name] for name in (
                "checkpoint_id", "dataset_version", "code_version", "config_hash", "train_loss",
                "validation_loss", "non_pad_tokens_per_second", "wall_time_seconds", "global_step",
                "resumed_from_step", "train_rows", "validation_rows", "parameters")},
        },
        data_version=summary["checkpoint_id"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--job", required=True, help="a TrainingJob as JSON, or a path to a JSON file")
    args = parser.parse_args(argv)
    job_text = args.job if args.job.lstrip().startswith("{") else Path(args.job).read_text(encoding="utf-8")
    job = TrainingJob.from_json(job_text)

    with open_pipes() as pipes:  # the S3 channel when launched on k8s/ECS, local files otherwise
        return train(job, pipes)


def train(job: TrainingJob, pipes: PipesContext) -> int:
    import torch
    from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments, Trainer, TrainingArguments

    from lamini_assets.training import data, models
    from lamini_assets.training.card import model_card

    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # progress bars would flood the run's log
    spec = job.spec
    hp = spec.hyperparameters
    store = open_store(job)
    log = pipes.log if isinstance(pipes, PipesContext) else _StdoutLog()

    # -- already published: report it again, train nothing
    summary_key = f"{job.checkpoint_key}/{SUMMARY_FILE}"
    if store.exists(summary_key):
        summary = json.loads(store.read_bytes(summary_key))
        log.info(f"checkpoint {job.checkpoint_key} is already published; reporting it")
        report(pipes, summary, store.uri(f"{job.checkpoint_key}/{LOSS_CURVE_FILE}"),
               store.read_bytes(f"{job.checkpoint_key}/{LOSS_CURVE_FILE}"))
        return 0

    # -- data: the split's train and validation rows of the student's sources
    rows = read_rows(store, job)
    train_rows = rows.filter(rows["split"] == "train")
    validation_rows = rows.filter(rows["split"] == "validation")
    if train_rows.is_empty():
        raise ValueError(f"no training rows for sources {spec.sources} in {job.split_key}")
    log.info(f"{train_rows.height} train and {validation_rows.height} validation rows from {job.split_key}")

    # -- model and tokenizer: a from_config base is built once and kept in the work dir, so a resumed
    #    run and the published base/ are the same initial model
    work_dir = Path(job.work_dir)
    base_dir = work_dir / BASE_SUBFOLDER
    if models.is_from_config(spec):
        if not (base_dir / "config.json").is_file():
            texts = [*data.source_texts(train_rows, spec.family), *train_rows["response"].to_list()]
            tokenizer = models.train_tokenizer(texts, spec.tiny.vocab_size)
            model = models.build_tiny_model(spec, tokenizer)
            staging = work_dir / f".{BASE_SUBFOLDER}.tmp"
            shutil.rmtree(staging, ignore_errors=True)
            model.save_pretrained(staging)
            tokenizer.save_pretrained(staging)
            staging.rename(base_dir)
        model, tokenizer = models.load_checkpoint(str(base_dir), spec.family)
    else:
        model, tokenizer = models.load_pretrained(spec)
    if spec.lora:
        model = models.with_lora(model, spec)
    parameters = sum(parameter.numel() for parameter in model.parameters())

    # -- batches: token ids with the prompt masked, optionally packed; padded per batch
    encode_args = (tokenizer, spec.family, spec.max_source_length, spec.max_target_length)
    train_set = data.encode(train_rows, *encode_args)
    validation_set = data.encode(validation_rows, *encode_args) if validation_rows.height else None
    if spec.packing:
        block = spec.max_source_length + spec.max_target_length
        train_set = data.pack(train_set, block)
        validation_set = data.pack(validation_set, block) if validation_set is not None else None
    seq2seq = spec.family == "encoder-decoder"
    collator = data.DynamicPaddingCollator(tokenizer, model=model if seq2seq else None)

    # -- trainer
    on_gpu = torch.cuda.is_available()
    arguments_class = Seq2SeqTrainingArguments if seq2seq else TrainingArguments
    arguments = arguments_class(
        output_dir=str(work_dir / "trainer"),
        num_train_epochs=hp.epochs,
        max_steps=hp.max_steps,
        learning_rate=spec.learning_rate,
        per_device_train_batch_size=hp.per_device_batch_size,
        per_device_eval_batch_size=hp.per_device_batch_size,
        gradient_accumulation_steps=hp.gradient_accumulation_steps,
        weight_decay=hp.weight_decay,
        warmup_steps=hp.warmup_steps,
        lr_scheduler_type=hp.lr_scheduler_type,
        seed=hp.seed,
        data_seed=hp.seed,
        train_sampling_strategy="group_by_length",  # length-grouped batches: little padding
        remove_unused_columns=False,  # the collator drops `length` itself
        logging_steps=hp.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=hp.save_steps,
        save_total_limit=2,
        eval_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=not on_gpu,
        bf16=on_gpu and torch.cuda.is_bf16_supported(),
        dataloader_num_workers=0,
    )
    trainer_class = _counting(Seq2SeqTrainer if seq2seq else Trainer)
    trainer = trainer_class(
        model=model, args=arguments, train_dataset=train_set, eval_dataset=validation_set,
        data_collator=collator, processing_class=tokenizer,
    )

    # -- train, resuming from the last trainer checkpoint of this job if a run was killed
    last = last_complete_checkpoint(Path(arguments.output_dir))
    resumed_from = int(Path(last).name.split("-")[-1]) if last else 0
    log.info(f"resuming from {last} (step {resumed_from})" if last else "starting from step 0")
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=last)
    wall_time = time.perf_counter() - started
    validation_loss = trainer.evaluate()["eval_loss"] if validation_set is not None else None
    history = trainer.state.log_history
    train_losses = [entry["loss"] for entry in history if "loss" in entry]

    # -- publish: weights (safetensors), tokenizer, job, summary, loss curve, model card, base
    if spec.lora:
        trainer.model = trainer.model.merge_and_unload()
    rows_by_source: dict[str, dict[str, int]] = {}
    for source, split, count in rows.group_by("instruction_source", "split").len().iter_rows():
        rows_by_source.setdefault(source, {})[split] = count
    summary = {
        "student": spec.name, "family": spec.family, "base": spec.base,
        "checkpoint_id": job.checkpoint_id, "dataset_version": job.dataset_version, "split_hash": job.split_hash,
        "code_version": job.code_version, "config_hash": job.config_hash, "run_id": job.run_id,
        "uri": store.uri(job.checkpoint_key),
        "base_uri": store.uri(f"{job.checkpoint_key}/{BASE_SUBFOLDER}") if models.is_from_config(spec) else None,
        "train_loss": train_losses[-1], "mean_train_loss": float(sum(train_losses) / len(train_losses)),
        "validation_loss": validation_loss, "global_step": trainer.state.global_step,
        "epochs": round(float(trainer.state.epoch or 0), 3), "resumed_from_step": resumed_from,
        "non_pad_tokens_per_second": trainer.non_pad_tokens / wall_time if wall_time else 0.0,
        "non_pad_tokens": trainer.non_pad_tokens, "wall_time_seconds": wall_time,
        "train_rows": train_rows.height, "validation_rows": validation_rows.height, "parameters": parameters,
        "rows_by_source": rows_by_source,
        "teacher_models": sorted({name for name in rows["teacher_model"].to_list() if name}),
        "hyperparameters": {**hp.model_dump(), "learning_rate": spec.learning_rate,
                            "max_source_length": spec.max_source_length, "max_target_length": spec.max_target_length,
                            "packing": spec.packing, "lora": spec.lora.model_dump() if spec.lora else None},
        "framework_versions": {name: package_version(name) for name in ("transformers", "torch", "tokenizers", "peft")},
        "log_history": history,
    }
    curve = loss_curve_png(history, f"{spec.name} ({spec.family})")

    def build(folder: Path) -> None:
        trainer.model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        if models.is_from_config(spec):
            shutil.copytree(base_dir, folder / BASE_SUBFOLDER)
        (folder / JOB_FILE).write_text(job.to_json(), encoding="utf-8")
        (folder / SUMMARY_FILE).write_text(json.dumps(summary, indent=1), encoding="utf-8")
        (folder / LOSS_CURVE_FILE).write_bytes(curve)
        (folder / "README.md").write_text(model_card(spec, summary), encoding="utf-8")

    store.publish_dir(job.checkpoint_key, build)
    log.info(f"published {store.uri(job.checkpoint_key)}: train loss {summary['train_loss']:.4f}, "
             f"validation loss {validation_loss}, {summary['non_pad_tokens_per_second']:.0f} non-pad tokens/s")
    report(pipes, summary, store.uri(f"{job.checkpoint_key}/{LOSS_CURVE_FILE}"), curve)
    shutil.rmtree(work_dir / "trainer", ignore_errors=True)  # resumable state is no longer needed
    return 0


def last_complete_checkpoint(output_dir: Path) -> str | None:
    """The newest trainer checkpoint that was fully written (a kill can land in the middle of a save,
    and the trainer writes trainer_state.json last)."""
    complete = [path for path in output_dir.glob("checkpoint-*")
                if path.name.split("-")[-1].isdigit() and (path / "trainer_state.json").is_file()]
    return str(max(complete, key=lambda path: int(path.name.split("-")[-1]))) if complete else None


def _counting(trainer_class: type) -> type:
    """The trainer class, counting the non-pad tokens of every batch it trains on."""

    class CountingTrainer(trainer_class):  # type: ignore[misc, valid-type]
        non_pad_tokens = 0

        def training_step(self, model: Any, inputs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            from lamini_assets.training.data import non_pad_tokens

            self.non_pad_tokens += non_pad_tokens(inputs)
            return super().training_step(model, inputs, *args, **kwargs)

    return CountingTrainer


class _StdoutLog:
    """Log lines when no Dagster process listens (the Pipes context is a no-op mock)."""

    def info(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
