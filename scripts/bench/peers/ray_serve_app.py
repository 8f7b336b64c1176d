"""Ray Serve peer for the batching workload (W3).

One replica batches requests with `@serve.batch(max_batch_size=64)` over the
simulated accelerator: each step takes BENCH_STEP_BASE_MS +
BENCH_STEP_PER_SEQ_MS x (sequences in the batch) and gives every sequence one
token. The batch method is an async generator that yields one list of tokens
per step, which is how Ray Serve 2.x streams results from a batched method,
and each request streams its tokens back as the same SSE events as Sluice.
Ray runs one batch at a time (`max_concurrent_batches=1`), so a batch is
static: requests that arrive while it runs wait for the next one.

Run inside scripts/bench/netns.sh, because Ray binds every interface:
    BENCH_STEP_BASE_MS=5 BENCH_STEP_PER_SEQ_MS=0.1 \
    .cache/bench-venv/bin/python scripts/bench/peers/ray_serve_app.py --port 8103
It serves until SIGTERM or SIGINT, then shuts Ray down.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from typing import AsyncIterator

PEERS_DIRECTORY = os.path.dirname(os.path.abspath(__file__))
# Ray's worker processes inherit the environment, so they import `simulated` too.
os.environ["PYTHONPATH"] = PEERS_DIRECTORY + os.pathsep + os.environ.get("PYTHONPATH", "")
# Ray runs its worker processes (the Serve proxy and replica among them) at
# niceness 15 by default. The benchmark runs every server at the same
# priority as its load client, so Ray's workers keep the niceness they start with.
os.environ.setdefault("RAY_worker_niceness", "0")
sys.path.insert(0, PEERS_DIRECTORY)

import ray  # noqa: E402
from pydantic import ValidationError  # noqa: E402
from ray import serve  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse, Response, StreamingResponse  # noqa: E402

from simulated import (  # noqa: E402
    CompletionEncoder,
    CompletionRequest,
    sleep_until,
    step_seconds,
    token_text,
)

MAX_BATCH_SIZE = int(os.environ.get("BENCH_MAX_BATCH_SIZE", "64"))
BATCH_WAIT_SECONDS = float(os.environ.get("BENCH_BATCH_WAIT_MS", "2")) / 1000.0


@serve.deployment(num_replicas=1, max_ongoing_requests=4096)
class SimulatedAccelerator:
    @serve.batch(max_batch_size=MAX_BATCH_SIZE, batch_wait_timeout_s=BATCH_WAIT_SECONDS)
    async def generate(self, max_tokens_batch: list[int]) -> AsyncIterator[list]:
        """Run steps until every sequence of the batch has its tokens.

        Each step yields one item per request: its next token text, or
        `StopIteration` once that request is complete, which ends its stream.
        """
        deadline = time.monotonic()
        position = 0
        while True:
            running = sum(1 for max_tokens in max_tokens_batch if position < max_tokens)
            if running == 0:
                return
            deadline += step_seconds(running)
            await sleep_until(deadline)
            yield [token_text(position) if position < max_tokens else StopIteration for max_tokens in max_tokens_batch]
            position += 1

    async def __call__(self, http_request: Request) -> Response:
        if http_request.url.path == "/healthz":
            return JSONResponse({"status": "ok"})
        if http_request.url.path != "/v1/completions" or http_request.method != "POST":
            return JSONResponse({"error": {"message": "not found", "type": "not_found_error"}}, status_code=404)
        try:
            request = CompletionRequest.model_validate_json(await http_request.body())
        except ValidationError as error:
            return JSONResponse({"error": {"message": str(error), "type": "invalid_request_error"}}, status_code=400)

        encoder = CompletionEncoder(request)
        headers = {"x-request-id": encoder.id}
        if not request.stream:
            text = "".join([token async for token in self.generate(request.max_tokens)])
            return JSONResponse(encoder.body(text, request.max_tokens), headers=headers)

        async def events() -> AsyncIterator[bytes]:
            async for text in self.generate(request.max_tokens):
                yield encoder.token_event(text)
            yield encoder.finish_events(request.max_tokens)

        headers["cache-control"] = "no-cache"
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the Ray Serve peer on 127.0.0.1.")
    parser.add_argument("--port", type=int, required=True, help="HTTP port of Ray Serve's proxy")
    parser.add_argument("--num-cpus", type=int, default=os.cpu_count(), help="logical CPUs given to Ray")
    arguments = parser.parse_args()

    # The node address is fixed to loopback: in the benchmark's network
    # namespace Ray's probe of an outside address would fail.
    ray.init(
        num_cpus=arguments.num_cpus,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        configure_logging=False,
    )
    serve.start(http_options={"host": "127.0.0.1", "port": arguments.port})
    serve.run(
        SimulatedAccelerator.bind(),
        name="sluice-bench",
        route_prefix="/",
        logging_config={"log_level": "WARNING", "enable_access_log": False},
    )
    print(f"ray_serve_app: serving on 127.0.0.1:{arguments.port}", flush=True)

    stop = threading.Event()

    def request_stop(signal_number: int, _frame) -> None:
        print(f"ray_serve_app: received signal {signal_number}, shutting down", flush=True)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    while not stop.wait(0.5):
        pass
    serve.shutdown()
    ray.shutdown()


if __name__ == "__main__":
    main()
