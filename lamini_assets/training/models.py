"""Students' models and tokenizers: a tiny T5 or GPT-2 built from config with a BPE tokenizer trained
on the dataset (the offline default), or a pretrained base from the hub or a local folder; LoRA on top."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    T5Config,
    T5ForConditionalGeneration,
)

from lamini_assets.training.config import FROM_CONFIG, StudentSpec

PAD, EOS, UNK = "<pad>", "</s>", "<unk>"


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on the student's training text (no post-processor: EOS is
    appended by `data.encode`)."""
    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, EOS, UNK],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token=PAD, eos_token=EOS, unk_token=UNK)


def build_tiny_model(spec: StudentSpec, tokenizer: PreTrainedTokenizerFast) -> PreTrainedModel:
    """A randomly initialised T5 or GPT-2 of the spec's `tiny` shape, seeded by its hyperparameters."""
    torch.manual_seed(spec.hyperparameters.seed)
    tiny = spec.tiny
    if spec.family == "encoder-decoder":
        config = T5Config(
            vocab_size=len(tokenizer),
            d_model=tiny.hidden_size,
            d_kv=tiny.hidden_size // tiny.heads,
            d_ff=tiny.feed_forward_size,
            num_layers=tiny.layers,
            num_decoder_layers=tiny.layers,
            num_heads=tiny.heads,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            # T5 starts decoding from the pad token.
            decoder_start_token_id=tokenizer.pad_token_id,
        )
        return T5ForConditionalGeneration(config)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        # Training needs source + target positions; lm-eval also scores benchmark contexts and
        # continuations longer than that (it asserts a continuation fits), so keep GPT-2's 1,024 at least.
        n_positions=max(spec.max_source_length + spec.max_target_length, 1024),
        n_embd=tiny.hidden_size,
        n_layer=tiny.layers,
        n_head=tiny.heads,
        n_inner=tiny.feed_forward_size,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return GPT2LMHeadModel(config)


def load_pretrained(spec: StudentSpec) -> tuple[PreTrainedModel, Any]:
    """A hub or local base and its tokenizer; GPT-style tokenizers without a pad token pad with EOS."""
    model_class = AutoModelForSeq2SeqLM if spec.family == "encoder-decoder" else AutoModelForCausalLM
    tokenizer = AutoTokenizer.from_pretrained(spec.base)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = model_class.from_pretrained(spec.base)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def is_from_config(spec: StudentSpec) -> bool:
    return spec.base == FROM_CONFIG


def with_lora(model: PreTrainedModel, spec: StudentSpec) -> PreTrainedModel:
    """Wrap the model in peft LoRA adapters; GPT-2's c_attn is a Conv1D, so its weights are fan-in x fan-out."""
    from peft import LoraConfig, TaskType, get_peft_model

    assert spec.lora is not None
    is_gpt2 = getattr(model.config, "model_type", "") == "gpt2"
    config = LoraConfig(
        r=spec.lora.r,
        lora_alpha=spec.lora.alpha,
        lora_dropout=spec.lora.dropout,
        target_modules=spec.lora_targets,
        fan_in_fan_out=is_gpt2,
        task_type=TaskType.SEQ_2_SEQ_LM if spec.family == "encoder-decoder" else TaskType.CAUSAL_LM,
    )
    return get_peft_model(model, config)


def load_checkpoint(path: str, family: str) -> tuple[PreTrainedModel, Any]:
    """A published checkpoint folder (or its base/ subfolder) as model and tokenizer."""
    model_class = AutoModelForSeq2SeqLM if family == "encoder-decoder" else AutoModelForCausalLM
    return model_class.from_pretrained(path), AutoTokenizer.from_pretrained(path)
