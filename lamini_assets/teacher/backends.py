"""The two ways to answer a chat call: an OpenAI-compatible endpoint, or the offline stand-in.

A backend makes exactly one attempt and either returns a `Completion` or raises a classified
`CallError`; retries, budgets and the cache belong to the client, so both backends share them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from lamini_assets.teacher.budget import parse_retry_after
from lamini_assets.teacher.config import OFFLINE_MODEL, TeacherConfig
from lamini_assets.teacher.errors import CallError, scrub
from lamini_assets.teacher.offline import offline_completion

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True)
class Completion:
    texts: list[str]
    finish_reason: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    headers: Mapping[str, str] = field(default_factory=dict)  # for rate-limit adaptation


class Backend(Protocol):
    async def complete(self, messages: tuple[dict[str, str], ...], params: Mapping[str, Any]) -> Completion: ...

    async def aclose(self) -> None: ...


class OfflineBackend:
    """Deterministic offline stand-in, not a language model (see `offline.py`)."""

    async def complete(self, messages: tuple[dict[str, str], ...], params: Mapping[str, Any]) -> Completion:
        texts, finish_reason = offline_completion(messages, params.get("max_tokens"), int(params.get("n", 1)))
        return Completion(
            texts=texts,
            finish_reason=finish_reason,
            model=OFFLINE_MODEL,
            prompt_tokens=sum(len(m["content"].split()) for m in messages),
            completion_tokens=sum(len(t.split()) for t in texts),
        )

    async def aclose(self) -> None:
        return None


def _malformed(detail: str) -> CallError:
    return CallError("MalformedResponse", f"malformed chat completion body: {detail}", retryable=True)


def _parse_body(body: Any) -> tuple[list[str], str, str, int, int]:
    if not isinstance(body, dict):
        raise _malformed(f"expected a JSON object, got {type(body).__name__}")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise _malformed("no choices")
    texts: list[str] = []
    for choice in choices:
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            raise _malformed("a choice has no message")
        content = message.get("content")
        texts.append(content if isinstance(content, str) else "")
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    return (
        texts,
        str(choices[0].get("finish_reason") or "unknown"),
        str(body.get("model") or ""),
        int(usage.get("prompt_tokens") or 0),
        int(usage.get("completion_tokens") or 0),
    )


class OpenAIBackend:
    """Any OpenAI-compatible chat-completions endpoint via the openai SDK (its own retries off)."""

    def __init__(self, config: TeacherConfig, api_key: str | None) -> None:
        self._config = config
        self._api_key = api_key
        self.base_url = config.base_url or OPENAI_DEFAULT_BASE_URL
        # Imported here: the SDK costs ~0.5 s CPU to import, which every step process (and the offline
        # stand-in, which never calls it) paid when it loaded the teacher package.
        import openai

        self._client = openai.AsyncOpenAI(
            # Local servers (vLLM, Ollama, llama.cpp) take any key; the SDK insists on one.
            api_key=api_key or "no-key-set",
            base_url=self.base_url,
            timeout=config.timeout_seconds,
            max_retries=0,
        )

    def _auth_message(self, status: int, detail: str) -> str:
        key_source = (
            f"the API key from env var {self._config.api_key_env}" if self._api_key else
            f"no API key (env var {self._config.api_key_env} is not set)"
        )
        return f"{self.base_url} rejected {key_source} with HTTP {status}: {scrub(detail, self._api_key)}"

    async def complete(self, messages: tuple[dict[str, str], ...], params: Mapping[str, Any]) -> Completion:
        import openai  # loaded by __init__ already

        try:
            raw = await self._client.chat.completions.with_raw_response.create(
                model=self._config.model, messages=list(messages), **params  # type: ignore[arg-type]
            )
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise CallError(type(exc).__name__, self._auth_message(exc.status_code, str(exc)),
                            retryable=False, auth=True) from None
        except openai.APIStatusError as exc:
            status = exc.status_code
            raise CallError(
                type(exc).__name__,
                scrub(f"HTTP {status} from {self.base_url}: {exc}", self._api_key),
                retryable=status in (408, 409, 429) or status >= 500,
                retry_after=parse_retry_after(exc.response.headers),
                rate_limited=status == 429,
                headers=exc.response.headers,
            ) from None
        except openai.APIConnectionError as exc:  # timeouts included
            raise CallError(type(exc).__name__, scrub(f"{exc} ({self.base_url})", self._api_key),
                            retryable=True) from None
        try:
            body = raw.http_response.json()
        except ValueError as exc:
            raise _malformed(f"invalid JSON ({exc})") from None
        texts, finish_reason, model, prompt_tokens, completion_tokens = _parse_body(body)
        return Completion(texts, finish_reason, model or self._config.model, prompt_tokens, completion_tokens,
                          raw.headers)

    async def aclose(self) -> None:
        await self._client.close()
