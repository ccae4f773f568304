"""Loading a student checkpoint for lm-eval (HFLM) and for answering instructions (generate)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

Family = Literal["encoder-decoder", "decoder-only"]

# Stanford Alpaca's prompt (no-input form): LaMini trained its decoder-only students inside it.
ALPACA_PROMPT = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:\n"
)


def alpaca_prompt(instruction: str) -> str:
    return ALPACA_PROMPT.format(instruction=instruction.strip())


def hf_backend(family: Family) -> str:
    """HFLM's `backend` for a student family."""
    if family == "encoder-decoder":
        return "seq2seq"
    if family == "decoder-only":
        return "causal"
    raise ValueError(f"student family must be encoder-decoder or decoder-only, got {family!r}")


def load_lm(path: str, family: Family, batch_size: int, device: str = "cpu", alpaca: bool = False) -> Any:
    """An lm-eval HFLM over a save_pretrained folder (or hub id); with `alpaca`, every benchmark
    context is wrapped in the Alpaca prompt (decoder-only students only)."""
    from lm_eval.models.huggingface import HFLM

    if alpaca and family == "decoder-only":
        return AlpacaHFLM(pretrained=path, backend=hf_backend(family), batch_size=batch_size, device=device)
    return HFLM(pretrained=path, backend=hf_backend(family), batch_size=batch_size, device=device)


def _alpaca_class() -> type:
    from lm_eval.models.huggingface import HFLM

    class _AlpacaHFLM(HFLM):
        """HFLM whose log-likelihood contexts are wrapped in the Alpaca prompt."""

        def loglikelihood(self, requests: list, disable_tqdm: bool = False) -> list:
            for request in requests:
                context, continuation = request.arguments
                request.arguments = (alpaca_prompt(context), continuation.lstrip())
            return super().loglikelihood(requests, disable_tqdm=disable_tqdm)

    return _AlpacaHFLM


def AlpacaHFLM(**kwargs: Any) -> Any:  # noqa: N802 (a class built lazily: lm_eval imports torch)
    return _alpaca_class()(**kwargs)


def generate_answers(path: str, family: Family, instructions: Sequence[str], max_new_tokens: int,
                     batch_size: int = 8, device: str = "cpu") -> list[str]:
    """Greedy answers of one checkpoint; decoder-only students see the Alpaca prompt they were trained on."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if family == "encoder-decoder":
        model = AutoModelForSeq2SeqLM.from_pretrained(path)
        prompts = [instruction.strip() for instruction in instructions]
    else:
        model = AutoModelForCausalLM.from_pretrained(path)
        tokenizer.padding_side = "left"
        prompts = [alpaca_prompt(instruction) for instruction in instructions]
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device).eval()
    limit = _max_input_tokens(model, max_new_tokens)
    # Sorted by length so each batch pads little; answers go back in the caller's order.
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    answers: list[str] = [""] * len(prompts)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            encoded = tokenizer([prompts[i] for i in batch], return_tensors="pt", padding=True,
                                truncation=True, max_length=limit).to(device)
            output = model.generate(**encoded, max_new_tokens=max_new_tokens, do_sample=False,
                                    pad_token_id=tokenizer.pad_token_id)
            if family == "decoder-only":
                output = output[:, encoded["input_ids"].shape[1]:]
            for i, text in zip(batch, tokenizer.batch_decode(output, skip_special_tokens=True), strict=True):
                answers[i] = text.strip()
    return answers


def _max_input_tokens(model: Any, max_new_tokens: int) -> int:
    positions = getattr(model.config, "n_positions", None) or getattr(model.config, "max_position_embeddings", None)
    if positions and not model.config.is_encoder_decoder:
        return max(8, positions - max_new_tokens)
    return 512  # T5's relative positions have no hard limit; LaMini trained with 512-token inputs
