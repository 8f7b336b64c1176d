"""Shared pieces of the Python peers: the simulated accelerator's step time,
its generated words, and OpenAI-shaped response bodies with the same fields,
field order and compact JSON as Sluice's `/v1/completions`.

Configuration comes from environment variables, because the apps are started
by `uvicorn MODULE:app` or by Ray, which pass no arguments to them:

- BENCH_STEP_BASE_MS: fixed time of one step, in milliseconds (default 0).
- BENCH_STEP_PER_SEQ_MS: added step time per sequence in the batch, in
  milliseconds (default 0).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from itertools import count
from typing import Any, Optional, Union

from pydantic import BaseModel

STEP_BASE_SECONDS = float(os.environ.get("BENCH_STEP_BASE_MS", "0")) / 1000.0
STEP_PER_SEQUENCE_SECONDS = float(os.environ.get("BENCH_STEP_PER_SEQ_MS", "0")) / 1000.0

# Sluice's simulated accelerator generates these words in turn, each with a
# leading space, and its tokenizer counts one prompt token per word.
WORDS = [
    "the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "and", "runs", "far", "away",
    "into", "green", "hills",
]
TOKEN_TEXTS = [" " + word for word in WORDS]

DONE_EVENT = b"data: [DONE]\n\n"

_id_prefix = secrets.token_hex(4)
_id_counter = count()


def step_seconds(batch_size: int) -> float:
    """Return the simulated time of one step that runs `batch_size` sequences."""
    return STEP_BASE_SECONDS + STEP_PER_SEQUENCE_SECONDS * batch_size


async def sleep_until(deadline: float) -> None:
    """Sleep until `deadline` on the `time.monotonic()` clock.

    Steps are timed against deadlines rather than with one `sleep(step)`
    each, because uvloop's timers count whole milliseconds (libuv's
    `uv_timer_start` takes milliseconds). With deadlines the rounding error
    stays within one step instead of adding up over a stream.
    """
    delay = deadline - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


def token_text(position: int) -> str:
    return TOKEN_TEXTS[position % len(TOKEN_TEXTS)]


def prompt_token_count(prompt: Union[str, list[int]]) -> int:
    if isinstance(prompt, str):
        return len(prompt.split())
    return len(prompt)


class StreamOptions(BaseModel):
    include_usage: bool = False


class CompletionRequest(BaseModel):
    """The fields of OpenAI's completion request that the peers use."""

    model: str
    prompt: Union[str, list[int]]
    max_tokens: int = 16
    stream: bool = False
    stream_options: Optional[StreamOptions] = None
    temperature: Optional[float] = None
    top_p: Optional[float] = None
    seed: Optional[int] = None


class CompletionEncoder:
    """Response bytes for one completion request."""

    def __init__(self, request: CompletionRequest) -> None:
        self.id = f"cmpl-{_id_prefix}{next(_id_counter):x}"
        self.created = int(time.time())
        self.model = request.model
        self.include_usage = bool(request.stream and request.stream_options and request.stream_options.include_usage)
        self.prompt_tokens = prompt_token_count(request.prompt)

    def _chunk(self, text: str, finish_reason: Optional[str]) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}],
        }
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def usage(self, completion_tokens: int) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": self.prompt_tokens + completion_tokens,
        }

    def token_event(self, text: str) -> bytes:
        return b"data: " + dumps(self._chunk(text, None)) + b"\n\n"

    def finish_events(self, completion_tokens: int, finish_reason: str = "length") -> bytes:
        """Encode the closing chunk with the finish reason, the usage chunk when
        requested, and `data: [DONE]`."""
        events = b"data: " + dumps(self._chunk("", finish_reason)) + b"\n\n"
        if self.include_usage:
            usage_chunk = {
                "id": self.id,
                "object": "text_completion",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": self.usage(completion_tokens),
            }
            events += b"data: " + dumps(usage_chunk) + b"\n\n"
        return events + DONE_EVENT

    def body(self, text: str, completion_tokens: int, finish_reason: str = "length") -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}],
            "usage": self.usage(completion_tokens),
        }


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
