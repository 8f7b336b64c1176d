"""FastAPI peer for the batching workload (W3): one accelerator behind one lock.

Each request takes an `asyncio.Lock` that is the one accelerator and runs its
whole generation under it, one sequence per step, so the step time is
BENCH_STEP_BASE_MS + BENCH_STEP_PER_SEQ_MS (a batch of 1). Requests wait for
the lock in arrival order, because `asyncio.Lock` wakes its waiters first
in, first out. This is the simple app that the batching scheduler is
measured against.

BENCH_LOCK_SCOPE=step takes the lock per step instead, so that streams
interleave step by step: the same token rate, with shorter waits for the
first token and longer streams.

Run: BENCH_STEP_BASE_MS=5 BENCH_STEP_PER_SEQ_MS=0.1 \
     uvicorn --app-dir scripts/bench/peers fastapi_lock_app:app --loop uvloop --http httptools
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import AsyncIterator

from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse

from simulated import CompletionEncoder, CompletionRequest, sleep_until, step_seconds, token_text

LOCK_SCOPE = os.environ.get("BENCH_LOCK_SCOPE", "request")
if LOCK_SCOPE not in ("request", "step"):
    raise SystemExit(f"BENCH_LOCK_SCOPE must be 'request' or 'step', got {LOCK_SCOPE!r}")

app = FastAPI()
accelerator = asyncio.Lock()
# End of the accelerator's latest step on the time.monotonic() clock, so that
# per-step locking does not add up uvloop's millisecond timer rounding.
last_step_end = 0.0


async def generate(max_tokens: int) -> AsyncIterator[str]:
    """Yield `max_tokens` token texts, each after one simulated step of batch 1."""
    if LOCK_SCOPE == "request":
        async with accelerator:
            deadline = time.monotonic()
            for position in range(max_tokens):
                deadline += step_seconds(1)
                await sleep_until(deadline)
                yield token_text(position)
    else:
        for position in range(max_tokens):
            async with accelerator:
                global last_step_end
                last_step_end = max(time.monotonic(), last_step_end) + step_seconds(1)
                await sleep_until(last_step_end)
            yield token_text(position)


@app.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@app.post("/v1/completions")
async def completions(request: CompletionRequest):
    encoder = CompletionEncoder(request)
    headers = {"x-request-id": encoder.id}
    if not request.stream:
        text = "".join([token async for token in generate(request.max_tokens)])
        return JSONResponse(encoder.body(text, request.max_tokens), headers=headers)

    async def events() -> AsyncIterator[bytes]:
        async for text in generate(request.max_tokens):
            yield encoder.token_event(text)
        yield encoder.finish_events(request.max_tokens)

    headers["cache-control"] = "no-cache"
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
