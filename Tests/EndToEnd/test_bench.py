"""`sluice bench` against a real `sluice serve` with the simulated accelerator."""

import json
import subprocess

from conftest import BINARY

MAX_TOKENS = 8
BODY = json.dumps({"model": "simulated", "prompt": "hello", "max_tokens": MAX_TOKENS, "stream": True})


def run_bench(server, *flags: str) -> dict:
    """Run `sluice bench --json` against the server's completions route and return its JSON output."""
    completed = subprocess.run(
        [BINARY, "bench", "--url", server.base_url + "/v1/completions", "--body", BODY, "--json", *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert len(lines) == 1, completed.stdout
    return json.loads(lines[0])


def test_bench_window_counts_tokens_of_streams(simulated):
    concurrency = 4
    result = run_bench(simulated, "--concurrency", str(concurrency), "--duration", "1", "--warmup", "0.2")
    assert result["errors"] == {}
    assert result["cancelled"] == 0
    assert result["concurrency"] == concurrency
    assert result["streams"] > 0
    assert result["streams_total"] >= result["streams"]
    assert result["requests_sent"] >= result["streams_total"]
    # Every stream delivers exactly MAX_TOKENS tokens, but the window cuts at
    # most one stream per connection at each edge. For a stream that began
    # before the window, its completion counts and some of its tokens may not.
    # For one still running at the end, some tokens count and its completion
    # does not.
    assert abs(result["tokens"] - MAX_TOKENS * result["streams"]) <= MAX_TOKENS * concurrency
    assert result["ttft_samples"] > 0
    assert result["ttft_p50_ms"] is not None
    assert result["ttft_p50_ms"] <= result["ttft_p99_ms"]
    assert result["itl_samples"] > 0


def test_bench_request_limit_counts_exactly(simulated):
    requests = 20
    result = run_bench(simulated, "--concurrency", "4", "--requests", str(requests), "--warmup", "0", "--duration", "30")
    # Every request is sent and its response ends inside the window, so nothing is cut.
    assert result["errors"] == {}
    assert result["requests_sent"] == requests
    assert result["streams_total"] == requests
    assert result["streams"] == requests
    assert result["tokens"] == MAX_TOKENS * requests
    assert result["ttft_samples"] == requests
    assert result["ttft_censored"] == 0
    assert result["itl_samples"] == (MAX_TOKENS - 1) * requests
    # The run ends at the last response, well before the 30 s window.
    assert result["window_s"] < 10


def test_bench_disconnect_after_cancels_streams(simulated):
    result = run_bench(
        simulated, "--concurrency", "4", "--duration", "1", "--warmup", "0.2",
        "--disconnect-after", "2", "--disconnect-fraction", "0.5",
    )
    assert result["cancelled"] > 0
    assert result["errors"] == {}
    # The connections that do not disconnect still complete streams.
    assert result["streams_total"] > 0


def test_bench_rejects_https_url():
    completed = subprocess.run(
        [BINARY, "bench", "--url", "https://127.0.0.1:1/v1/completions", "--body", BODY],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1
    assert "http://" in completed.stderr


def test_bench_rejects_body_that_is_not_json():
    completed = subprocess.run(
        [BINARY, "bench", "--url", "http://127.0.0.1:1/v1/completions", "--body", "{model: simulated}"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert completed.returncode == 2
    assert "not valid JSON" in completed.stderr


def test_bench_exits_1_when_every_request_fails(simulated):
    completed = subprocess.run(
        [BINARY, "bench", "--url", simulated.base_url + "/v1/completions",
         "--body", json.dumps({"model": "no-such-model", "prompt": "hello", "stream": True}),
         "--json", "--concurrency", "1", "--requests", "3", "--warmup", "0", "--duration", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 1, completed.stderr
    assert "every request failed" in completed.stderr
    result = json.loads(completed.stdout.splitlines()[0])
    assert result["streams_total"] == 0
    assert result["errors"] == {"http_404": 3}
