"""FastAPI peer for the overhead (W1) and token stream (W2) workloads.

Serves `POST /v1/completions` with the bytes Sluice's simulated backend sends
at zero step time: one JSON body for `stream: false`, or one SSE event per
token, a closing event with the finish reason and `data: [DONE]` for
`stream: true`. It is written the way a FastAPI app usually is: a pydantic
request model, `JSONResponse`, and `StreamingResponse` over an async generator.

Run: uvicorn --app-dir scripts/bench/peers fastapi_app:app --loop uvloop --http httptools
"""

from __future__ import annotations

from typing import AsyncIterator

from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse

from simulated import CompletionEncoder, CompletionRequest, token_text

app = FastAPI()


@app.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@app.post("/v1/completions")
async def completions(request: CompletionRequest):
    encoder = CompletionEncoder(request)
    headers = {"x-request-id": encoder.id}
    if not request.stream:
        text = "".join(token_text(position) for position in range(request.max_tokens))
        return JSONResponse(encoder.body(text, request.max_tokens), headers=headers)

    async def events() -> AsyncIterator[bytes]:
        for position in range(request.max_tokens):
            yield encoder.token_event(token_text(position))
        yield encoder.finish_events(request.max_tokens)

    headers["cache-control"] = "no-cache"
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
