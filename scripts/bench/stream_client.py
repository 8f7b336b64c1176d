#!/usr/bin/env python3
"""Streaming load client: C keep-alive connections, each sending streaming
requests back to back, with SSE parsed as it arrives.

It is built on asyncio protocols with a small HTTP/1.1 response parser (and
uses uvloop when installed), so that it costs little CPU next to the server
it measures on a 2-core machine. Prints one JSON object:

- streams_per_s, tokens_per_s: streams completed and tokens received in the
  measured window (after --warmup, until --duration or the last response).
- ttft_p50_ms, ttft_p99_ms: time from writing a request to its first token,
  for requests sent in the window. After the window no new request is sent,
  and the client waits up to --drain seconds for the first tokens still
  missing. A request still waiting then (`ttft_censored` counts them) counts
  with the time it had waited. When such a wait reaches a percentile's value,
  that percentile is only a lower bound, and ttft_p50_lower_bound or
  ttft_p99_lower_bound is true.
- itl_p50_ms, itl_p99_ms: gaps between consecutive tokens of one stream that
  both arrive in the window, as they arrive at this client. Tokens that
  arrive in one read share a timestamp, so a gap can be 0.
- cancelled: streams this client closed on purpose (--disconnect-after).

A token is an SSE `data:` event other than `[DONE]` that carries text: the
events that announce the role, end the choice or carry only usage are
recognized by the empty values in their JSON and not counted.

Example (W2): stream_client.py --url http://127.0.0.1:8101/v1/completions \
    --body '{"model":"sim","prompt":"hello","max_tokens":32,"stream":true}' \
    --concurrency 64 --duration 5 --warmup 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import sys
import time
from typing import Optional
from urllib.parse import urlsplit

from benchstats import percentile

# Events that match this pattern carry no token text: OpenAI's finish chunk of
# a completion ("text":""), chat role and finish chunks ("content":"",
# "content":null, "delta":{}) and usage-only chunks ("choices":[]).
EMPTY_EVENT_PATTERN = re.compile(rb'"text":""|"content":""|"content":null|"delta":\{\}|"choices":\[\]')


class RunState:
    """Counters and samples shared by all connections of one run."""

    def __init__(self, arguments: argparse.Namespace, request_bytes: bytes, host: str, port: int) -> None:
        self.arguments = arguments
        self.request_bytes = request_bytes
        self.host = host
        self.port = port
        self.start = 0.0
        self.window_start = 0.0
        self.window_end = float("inf")
        # No new requests after this; set when the window ends.
        self.sending_stopped = False
        # Set when the run ends: connections are closed and not replaced.
        self.stopping = False
        self.requests_sent = 0
        self.requests_limit: Optional[int] = arguments.requests
        self.tokens_in_window = 0
        self.streams_in_window = 0
        self.streams_total = 0
        self.last_completion = 0.0
        self.cancelled = 0
        self.errors: dict[str, int] = {}
        self.ttft: list[float] = []
        self.itl: list[float] = []
        # Gaps of 0 (tokens that arrived in the same read), counted, not stored.
        self.itl_zero_gaps = 0
        self.open_connections: set["StreamConnection"] = set()
        self.all_done = asyncio.get_running_loop().create_future()

    def count_error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def may_send(self) -> bool:
        if self.sending_stopped or self.stopping:
            return False
        return self.requests_limit is None or self.requests_sent < self.requests_limit

    def connection_finished(self, connection: "StreamConnection") -> None:
        self.open_connections.discard(connection)
        if not self.open_connections and not self.all_done.done():
            self.all_done.set_result(None)


class StreamConnection(asyncio.Protocol):
    """One keep-alive connection that sends requests one after another."""

    def __init__(self, state: RunState, disconnect_after: Optional[int]) -> None:
        self.state = state
        self.disconnect_after = disconnect_after
        self.transport: Optional[asyncio.Transport] = None
        self.closed_on_purpose = False
        self._reset_response()

    # Response parsing state, reset for every request.
    def _reset_response(self) -> None:
        self.buffer = bytearray()
        self.in_headers = True
        self.status = 0
        self.chunked = False
        self.content_remaining: Optional[int] = None
        self.chunk_remaining = 0
        self.chunk_state = "size"  # size, data, data_crlf, trailers
        self.sse_buffer = bytearray()
        self.sent_at = 0.0
        self.first_token_at = 0.0
        self.last_token_at = 0.0
        self.tokens = 0
        self.saw_done = False
        self.keep_alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.state.open_connections.add(self)
        self._send_next()

    def connection_lost(self, error: Optional[Exception]) -> None:
        state = self.state
        if not self.closed_on_purpose and not state.stopping:
            state.count_error("connection_lost")
        state.connection_finished(self)
        # Both a disconnect on purpose (W6) and a lost connection are replaced
        # by a new connection while the run goes on.
        if not state.stopping and state.may_send():
            asyncio.ensure_future(open_connection(state, self.disconnect_after))

    def _send_next(self) -> None:
        state = self.state
        if not state.may_send():
            self.closed_on_purpose = True
            self.transport.close()
            return
        self._reset_response()
        state.requests_sent += 1
        self.sent_at = time.perf_counter()
        self.transport.write(state.request_bytes)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buffer += data
        if self.in_headers:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self._parse_headers(bytes(self.buffer[:end]))
            del self.buffer[: end + 4]
            self.in_headers = False
        if self.chunked:
            self._read_chunked(now)
        else:
            self._read_plain(now)

    def _parse_headers(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            value = value.strip().lower()
            if name == b"transfer-encoding" and b"chunked" in value:
                self.chunked = True
            elif name == b"content-length":
                self.content_remaining = int(value)
            elif name == b"connection" and value == b"close":
                self.keep_alive = False

    def _read_plain(self, now: float) -> None:
        if self.content_remaining is None:
            # Delimited by the connection closing: everything is body.
            self._feed_sse(bytes(self.buffer), now)
            self.buffer.clear()
            return
        take = min(self.content_remaining, len(self.buffer))
        if take:
            self._feed_sse(bytes(self.buffer[:take]), now)
            del self.buffer[:take]
            self.content_remaining -= take
        if self.content_remaining == 0 and not self.closed_on_purpose:
            self._finish_response(now)

    def _read_chunked(self, now: float) -> None:
        buffer = self.buffer
        pieces: list[bytes] = []
        position = 0
        finished = False
        length = len(buffer)
        while True:
            if self.chunk_state == "size":
                end = buffer.find(b"\r\n", position)
                if end < 0:
                    break
                size = int(bytes(buffer[position:end]).split(b";", 1)[0], 16)
                position = end + 2
                if size == 0:
                    self.chunk_state = "trailers"
                elif length - position >= size + 2:
                    # Fast path: the whole chunk and its CRLF are here.
                    pieces.append(bytes(buffer[position : position + size]))
                    position += size + 2
                else:
                    self.chunk_remaining = size
                    self.chunk_state = "data"
            elif self.chunk_state == "data":
                take = min(self.chunk_remaining, length - position)
                if take == 0:
                    break
                pieces.append(bytes(buffer[position : position + take]))
                position += take
                self.chunk_remaining -= take
                if self.chunk_remaining == 0:
                    self.chunk_state = "data_crlf"
            elif self.chunk_state == "data_crlf":
                if length - position < 2:
                    break
                position += 2
                self.chunk_state = "size"
            else:  # trailers: lines until an empty one
                end = buffer.find(b"\r\n", position)
                if end < 0:
                    break
                empty = end == position
                position = end + 2
                if empty:
                    finished = True
                    break
        del buffer[:position]
        if pieces:
            self._feed_sse(b"".join(pieces), now)
        if finished and not self.closed_on_purpose:
            self._finish_response(now)

    def _feed_sse(self, payload: bytes, now: float) -> None:
        if self.status != 200:
            return
        sse = self.sse_buffer
        sse += payload
        if b"\r" in payload:
            # Some servers end SSE lines with CRLF.
            sse[:] = sse.replace(b"\r\n", b"\n")
        end = sse.rfind(b"\n\n")
        if end < 0:
            return
        events = bytes(sse[:end])
        del sse[: end + 2]
        tokens = 0
        for line in events.split(b"\n"):
            if line[:5] != b"data:":
                continue
            data = line[5:]
            if data == b" [DONE]" or data == b"[DONE]":
                self.saw_done = True
            elif not EMPTY_EVENT_PATTERN.search(data):
                tokens += 1
        if tokens:
            self._count_tokens(tokens, now)

    def _count_tokens(self, count: int, now: float) -> None:
        """Count `count` tokens that arrived in one read at `now`."""
        state = self.state
        if self.disconnect_after is not None:
            count = min(count, self.disconnect_after - self.tokens)
        in_window = state.window_start <= now <= state.window_end
        if in_window:
            state.tokens_in_window += count
        first = self.tokens == 0
        self.tokens += count
        if first:
            self.first_token_at = now
            # Requests sent in the window count even when their first token
            # arrives during the drain after it.
            if state.window_start <= self.sent_at <= state.window_end:
                state.ttft.append(now - self.sent_at)
            gaps_in_window = in_window
        else:
            gaps_in_window = in_window and self.last_token_at >= state.window_start
            if gaps_in_window:
                state.itl.append(now - self.last_token_at)
        if gaps_in_window:
            # Tokens after the first in one read arrived together: gaps of 0.
            state.itl_zero_gaps += count - 1
        self.last_token_at = now
        if self.disconnect_after is not None and self.tokens >= self.disconnect_after:
            self._disconnect()

    def _disconnect(self) -> None:
        self.state.cancelled += 1
        self.closed_on_purpose = True
        self.sent_at = 0.0
        self.transport.abort()

    def _finish_response(self, now: float) -> None:
        state = self.state
        if self.status != 200:
            state.count_error(f"http_{self.status}")
        else:
            state.streams_total += 1
            state.last_completion = now
            if state.window_start <= now <= state.window_end:
                state.streams_in_window += 1
        self.sent_at = 0.0
        if not self.keep_alive:
            self.closed_on_purpose = True
            self.transport.close()
            return
        self._send_next()

    def awaiting_first_token(self) -> bool:
        """Return whether a request sent in the window is still waiting for its first token."""
        state = self.state
        return bool(self.sent_at) and not self.first_token_at and state.window_start <= self.sent_at <= state.window_end

    def censored_wait(self, end: float) -> Optional[float]:
        """Return how long a request sent in the window has waited without a first token."""
        if self.awaiting_first_token():
            return end - self.sent_at
        return None


def percentile_with_zeros(sorted_values: list[float], zeros: int, fraction: float) -> Optional[float]:
    """Return the nearest-rank percentile of `zeros` values of 0 followed by `sorted_values`."""
    count = zeros + len(sorted_values)
    if count == 0:
        return None
    rank = max(1, math.ceil(fraction * count))
    if rank <= zeros:
        return 0.0
    return sorted_values[rank - zeros - 1]


async def open_connection(state: RunState, disconnect_after: Optional[int]) -> None:
    loop = asyncio.get_running_loop()
    try:
        await loop.create_connection(lambda: StreamConnection(state, disconnect_after), state.host, state.port)
    except OSError as error:
        state.count_error(f"connect_{type(error).__name__}")
        if not state.stopping:
            await asyncio.sleep(0.05)
            if state.may_send():
                asyncio.ensure_future(open_connection(state, disconnect_after))


def build_request(url: str, body: bytes) -> tuple[bytes, str, int]:
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise SystemExit(f"stream_client: only http:// URLs are supported, got {url!r}")
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Content-Type: application/json\r\n"
        "Accept: text/event-stream\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode() + body, host, port


async def run(arguments: argparse.Namespace) -> dict:
    if arguments.body_file:
        with open(arguments.body_file, "rb") as body_file:
            body = body_file.read()
    else:
        body = arguments.body.encode()
    json.loads(body)  # Fail early on a malformed body.
    request_bytes, host, port = build_request(arguments.url, body)

    state = RunState(arguments, request_bytes, host, port)
    state.start = time.perf_counter()
    state.window_start = state.start + arguments.warmup
    state.window_end = state.start + arguments.warmup + arguments.duration

    cancelling = round(arguments.concurrency * arguments.disconnect_fraction) if arguments.disconnect_after else 0
    for index in range(arguments.concurrency):
        disconnect_after = arguments.disconnect_after if index < cancelling else None
        asyncio.ensure_future(open_connection(state, disconnect_after))

    remaining = state.window_end - time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.shield(state.all_done), timeout=max(remaining, 0))
        end = state.last_completion or time.perf_counter()
    except asyncio.TimeoutError:
        end = state.window_end
    state.sending_stopped = True

    # Drain: give requests sent in the window time to get their first token,
    # so that TTFT is not cut short for the requests sent last.
    drain_end = time.perf_counter() + arguments.drain
    while time.perf_counter() < drain_end and any(
        connection.awaiting_first_token() for connection in state.open_connections
    ):
        await asyncio.sleep(0.01)
    state.stopping = True

    drain_stopped = time.perf_counter()
    censored = [
        wait for connection in state.open_connections if (wait := connection.censored_wait(drain_stopped)) is not None
    ]
    for connection in list(state.open_connections):
        connection.closed_on_purpose = True
        connection.transport.abort()
    await asyncio.sleep(0)

    window = max(end - state.window_start, 1e-9)
    ttft = sorted(state.ttft + censored)
    itl = sorted(state.itl)
    itl_samples = len(itl) + state.itl_zero_gaps
    ttft_p50 = percentile(ttft, 0.5)
    ttft_p99 = percentile(ttft, 0.99)
    longest_censored = max(censored, default=None)

    def lower_bound(value: Optional[float]) -> bool:
        return value is not None and longest_censored is not None and longest_censored >= value

    def milliseconds(value: Optional[float]) -> Optional[float]:
        return None if value is None else round(value * 1000.0, 3)

    return {
        "concurrency": arguments.concurrency,
        "window_s": round(window, 3),
        "streams": state.streams_in_window,
        "streams_per_s": round(state.streams_in_window / window, 2),
        "tokens": state.tokens_in_window,
        "tokens_per_s": round(state.tokens_in_window / window, 2),
        "ttft_p50_ms": milliseconds(ttft_p50),
        "ttft_p99_ms": milliseconds(ttft_p99),
        "ttft_p50_lower_bound": lower_bound(ttft_p50),
        "ttft_p99_lower_bound": lower_bound(ttft_p99),
        "ttft_samples": len(ttft),
        "ttft_censored": len(censored),
        "itl_p50_ms": milliseconds(percentile_with_zeros(itl, state.itl_zero_gaps, 0.5)),
        "itl_p99_ms": milliseconds(percentile_with_zeros(itl, state.itl_zero_gaps, 0.99)),
        "itl_samples": itl_samples,
        "requests_sent": state.requests_sent,
        "streams_total": state.streams_total,
        "cancelled": state.cancelled,
        "errors": state.errors,
    }


def parse_arguments(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="http://HOST:PORT/PATH of the streaming endpoint")
    body = parser.add_mutually_exclusive_group(required=True)
    body.add_argument("--body", help="JSON request body")
    body.add_argument("--body-file", help="file with the JSON request body")
    parser.add_argument("--concurrency", "-c", type=int, default=64, help="concurrent connections (default 64)")
    parser.add_argument("--duration", "-D", type=float, default=5.0, help="measured seconds after the warm-up (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring starts (default 1)")
    parser.add_argument(
        "--drain",
        type=float,
        default=5.0,
        help="seconds after the window to wait for first tokens of requests sent in it (default 5)",
    )
    parser.add_argument(
        "--requests", "-n", type=int, help="stop sending after this many requests in total (default: no limit)"
    )
    parser.add_argument(
        "--disconnect-after", type=int, help="close the connection after this many tokens of a stream (W6)"
    )
    parser.add_argument(
        "--disconnect-fraction",
        type=float,
        default=0.5,
        help="fraction of the connections that disconnect, with --disconnect-after (default 0.5)",
    )
    arguments = parser.parse_args(argv)
    if arguments.concurrency < 1:
        parser.error(f"--concurrency must be at least 1, got {arguments.concurrency}")
    if arguments.duration <= 0 or arguments.warmup < 0:
        parser.error("--duration must be above 0 and --warmup at least 0")
    if not 0 <= arguments.disconnect_fraction <= 1:
        parser.error(f"--disconnect-fraction must be between 0 and 1, got {arguments.disconnect_fraction}")
    return arguments


def main() -> None:
    arguments = parse_arguments()
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run(arguments))
    else:
        result = uvloop.run(run(arguments))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
