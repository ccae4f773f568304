"""The standalone training script, run without Dagster (Pipes degrades to no-ops): the loss falls, the
checkpoint reloads and generates, a killed run resumes from its last checkpoint, LoRA trains GPT-2."""

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import torch

from lamini_assets.artifacts import LocalArtifactStore
from lamini_assets.training.config import SplitConfig, StudentSpec
from lamini_assets.training.data import alpaca_prompt
from lamini_assets.training.job import SUMMARY_FILE, TrainingJob, checkpoint_id, code_version, config_hash
from lamini_assets.training.models import load_checkpoint
from lamini_assets.training.split import load_evaluation_only, split_dataset, split_hash
from lamini_assets.training.train import main as train_main
from tests.support.lamini_dataset_fixture import dataset_frame, p3_rows

PROJECT_ROOT = Path(__file__).resolve().parents[2]

TINY = {"vocab_size": 400, "hidden_size": 32, "layers": 1, "heads": 2, "feed_forward_size": 64}


def make_job(tmp_path: Path, family: str, **overrides: object) -> TrainingJob:
    store = LocalArtifactStore(tmp_path / "store")
    if not store.exists("train_split/v1.parquet"):
        split = split_dataset(dataset_frame(p3_rows(200)), "v1", SplitConfig(), load_evaluation_only([]))
        buffer = io.BytesIO()
        split.rows.write_parquet(buffer)
        store.write_bytes("train_split/v1.parquet", buffer.getvalue())
    spec = StudentSpec.model_validate({
        "name": f"tiny-{family}", "family": family, "tiny": TINY, "max_source_length": 64, "max_target_length": 16,
        **overrides,
    })
    code, settings = code_version(), split_hash(SplitConfig(), load_evaluation_only([]))
    identifier = checkpoint_id(spec, "v1", settings, code)
    return TrainingJob(
        student=spec.model_dump(mode="json"), store_root=str(store.root), split_key="train_split/v1.parquet",
        work_dir=str(tmp_path / "work" / identifier), dataset_version="v1", checkpoint_id=identifier,
        code_version=code, config_hash=config_hash(spec), split_hash=settings,
    )


def summary_of(job: TrainingJob) -> dict:
    return json.loads(LocalArtifactStore(job.store_root).read_bytes(f"{job.checkpoint_key}/{SUMMARY_FILE}"))


@pytest.mark.parametrize("family", ["decoder-only", "encoder-decoder"])
def test_loss_falls_and_the_checkpoint_reloads_and_generates(tmp_path: Path, family: str) -> None:
    job = make_job(tmp_path, family, hyperparameters={
        "max_steps": 30, "per_device_batch_size": 8, "logging_steps": 5, "save_steps": 100, "learning_rate": 3e-3,
    })
    assert train_main(["--job", job.to_json()]) == 0
    summary = summary_of(job)
    losses = [entry["loss"] for entry in summary["log_history"] if "loss" in entry]
    assert summary["global_step"] == 30
    assert losses[-1] < 0.88 * losses[0], losses  # 30 steps from ~ln(400) = 6 on real P3 text
    assert summary["validation_loss"] < losses[0]
    assert summary["non_pad_tokens_per_second"] > 0

    folder = Path(LocalArtifactStore(job.store_root).uri(job.checkpoint_key))
    model, tokenizer = load_checkpoint(str(folder), family)
    base, _ = load_checkpoint(str(folder / "base"), family)
    assert not torch.equal(next(model.parameters()), next(base.parameters()))  # base/ is the untrained init
    prompt = alpaca_prompt("Name a colour.") if family == "decoder-only" else "Name a colour."
    inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    output = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    new_tokens = output[0, inputs["input_ids"].shape[1]:] if family == "decoder-only" else output[0]
    assert len(new_tokens) > 0 and isinstance(tokenizer.decode(new_tokens, skip_special_tokens=True), str)


def test_a_killed_run_resumes_from_its_last_checkpoint(tmp_path: Path) -> None:
    job = make_job(tmp_path, "decoder-only", hyperparameters={
        "max_steps": 40, "per_device_batch_size": 4, "logging_steps": 2, "save_steps": 4, "learning_rate": 1e-3,
    })
    command = [sys.executable, "-m", "lamini_assets.training.train", "--job", job.to_json()]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first_checkpoint = Path(job.work_dir) / "trainer" / "checkpoint-4" / "trainer_state.json"
    process = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not first_checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be killed: " + process.stderr.read().decode()[-2000:]
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not LocalArtifactStore(job.store_root).exists(job.checkpoint_key)  # nothing half-published

    rerun = subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    summary = summary_of(job)
    assert summary["resumed_from_step"] >= 4 and "resuming from" in rerun.stderr
    assert summary["global_step"] == 40
    logged_steps = [entry["step"] for entry in summary["log_history"] if "loss" in entry]
    assert logged_steps[0] < summary["resumed_from_step"] < logged_steps[-1]  # one curve across the kill


def test_lora_trains_gpt2_conv1d_attention(tmp_path: Path) -> None:
    job = make_job(tmp_path, "decoder-only", lora={"r": 4, "alpha": 8}, hyperparameters={
        "max_steps": 3, "per_device_batch_size": 4, "logging_steps": 1, "save_steps": 100, "learning_rate": 1e-2,
    })
    assert train_main(["--job", job.to_json()]) == 0
    summary = summary_of(job)
    assert summary["global_step"] == 3 and summary["hyperparameters"]["lora"]["r"] == 4
    folder = LocalArtifactStore(job.store_root).uri(job.checkpoint_key)
    model, _ = load_checkpoint(folder, "decoder-only")  # adapters merged: loads as a plain GPT-2
    assert not any("lora" in name for name, _ in model.named_parameters())


def test_split_rows_outside_the_students_sources_are_not_trained_on(tmp_path: Path) -> None:
    job = make_job(tmp_path, "encoder-decoder", sources=["alpaca"], hyperparameters={
        "max_steps": 1, "per_device_batch_size": 2, "save_steps": 100,
    })
    assert train_main(["--job", job.to_json()]) == 0
    split = pl.read_parquet(Path(job.store_root) / job.split_key)
    expected = split.filter((pl.col("instruction_source") == "alpaca") & (pl.col("split") == "train")).height
    summary = summary_of(job)
    assert summary["train_rows"] == expected and list(summary["rows_by_source"]) == ["alpaca"]
