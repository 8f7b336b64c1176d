#!/usr/bin/env python3
"""Write docs/BENCHMARKS.md from the raw results of scripts/bench.sh.

Reads RESULTS/WORKLOAD/ for each workload that has results (bench-out/results
by default). Each server has one JSON file per round there, written by
h2load_stats.py, stream_client.py or `sluice bench`. Beside them are the server command lines,
the measured load commands, the start time and Sluice's git revision of that
run. Each figure in the tables is the median of the rounds.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import importlib.metadata
import json
import os
import platform
import re
import subprocess
from typing import Callable, Optional

from benchstats import median

# Simulated accelerator of W3 and W6: step = 5 ms + 0.1 ms x batch, batch <= 64.
STEP_BASE_MS = 5.0
STEP_PER_SEQ_MS = 0.1
MAX_BATCH_SIZE = 64
FULL_STEP_MS = STEP_BASE_MS + STEP_PER_SEQ_MS * MAX_BATCH_SIZE
IDEAL_TOKENS_PER_S = MAX_BATCH_SIZE * 1000.0 / FULL_STEP_MS

PEER_PACKAGES = [
    "fastapi", "starlette", "pydantic", "uvicorn", "uvloop", "httptools", "ray", "llama_cpp_python",
]

SERVER_TITLES = {
    "sluice": "Sluice",
    "sluice-2-loops": "Sluice, 2 event loops",
    "sluice-http-only": "Sluice, HTTP layer only",
    "fastapi": "FastAPI, 1 uvicorn worker",
    "fastapi-2w": "FastAPI, 2 uvicorn workers",
    "fastapi-lock": "FastAPI with one lock",
    "ray-serve": "Ray Serve, @serve.batch",
    "llama-server": "llama.cpp llama-server",
}


# --- Reading results ---


def read_json(path: str) -> Optional[dict]:
    try:
        with open(path) as file:
            return json.load(file)
    except (OSError, ValueError):
        return None


def read_text(path: str, default: str = "") -> str:
    try:
        with open(path) as file:
            return file.read().strip()
    except OSError:
        return default


def parameters(directory: str) -> dict[str, str]:
    """Return the KEY=VALUE lines bench.sh recorded for a workload's load."""
    values = {}
    for line in read_text(os.path.join(directory, "parameters")).splitlines():
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip()
    return values


def rounds(directory: str, pattern: str) -> list[dict]:
    """Return the parsed result files of every round that match `pattern` in `directory`."""
    results = []
    for path in sorted(glob.glob(os.path.join(directory, pattern))):
        result = read_json(path)
        if result is not None:
            results.append(result)
    return results


def median_of(results: list[dict], key: str) -> Optional[float]:
    return median(result.get(key) for result in results)


# --- Formatting ---


def number(value: Optional[float], digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def milliseconds(value: Optional[float]) -> str:
    if value is None:
        return "n/a"
    if value >= 1000:
        return f"{value / 1000:,.2f} s"
    if value >= 100:
        return f"{value:.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def ratio(value: Optional[float], base: Optional[float]) -> str:
    if value is None or base is None or base == 0:
        return "n/a"
    return f"{value / base:.2f}x"


def join_paragraphs(parts: list[str]) -> str:
    return "\n\n".join(part for part in parts if part)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def goal_line(text: str, met: Optional[bool]) -> str:
    if met is None:
        status = "not measured"
    elif met:
        status = "met"
    else:
        status = "not met"
    return f"- {text}: **{status}**"


def title(server: str) -> str:
    return SERVER_TITLES.get(server, server)


# --- Machine and versions ---


def machine_description() -> list[str]:
    model = "unknown CPU"
    flags = ""
    for line in read_text("/proc/cpuinfo").splitlines():
        if line.startswith("model name") and model == "unknown CPU":
            model = line.split(":", 1)[1].strip()
        elif line.startswith("flags") and not flags:
            flags = line
    memory_kib = 0
    for line in read_text("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            memory_kib = int(line.split()[1])
    if "avx512f" in flags:
        vector = "AVX-512"
    elif "avx2" in flags:
        vector = "AVX2"
    else:
        vector = "no AVX2"
    return [
        f"- CPU: {model} ({vector}), {os.cpu_count()} logical cores",
        f"- Memory: {memory_kib / 1024 / 1024:.1f} GiB",
        f"- Kernel: {platform.system()} {platform.release()}",
    ]


def command_output(command: list[str]) -> str:
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "not available"
    output = (completed.stdout + completed.stderr).strip()
    return output.splitlines()[0] if output else "not available"


def versions(sluice: str, llama_server: str) -> list[str]:
    lines = [
        f"- Sluice: git {command_output(['git', 'describe', '--always', '--dirty', '--abbrev=12'])}"
        f" ({sluice})",
        f"- Swift: {command_output(['swift', '--version'])}",
        f"- Python: {platform.python_version()}",
    ]
    packages = []
    for package in PEER_PACKAGES:
        try:
            packages.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            packages.append(f"{package} not installed")
    lines.append("- Python packages: " + ", ".join(packages))
    lines.append(f"- h2load: {command_output(['h2load', '--version'])}")
    if os.path.exists(llama_server):
        version = " ".join(
            line.strip()
            for line in subprocess.run([llama_server, "--version"], capture_output=True, text=True).stderr.splitlines()
            if line.startswith("version") or line.startswith("built with")
        )
        lines.append(f"- llama-server: {version or 'version not reported'} (built from llama-cpp-python's source package)")
    else:
        lines.append("- llama-server: not built")
    return lines


def run_header(directory: str) -> str:
    started = read_text(os.path.join(directory, "started"), "unknown time")
    revision = read_text(os.path.join(directory, "sluice-revision"), "unknown")
    load_start = read_text(os.path.join(directory, "loadavg-start"), "").split(" ")[:3]
    load_end = read_text(os.path.join(directory, "loadavg-end"), "").split(" ")[:3]
    header = (
        f"Run started {started} with Sluice at {revision}. 1, 5 and 15-minute load averages: "
        f"{' '.join(load_start) or 'unknown'} at the start, {' '.join(load_end) or 'unknown'} at the end."
    )
    busiest = max((float(value) for value in load_start[:1] + load_end[:1] if value), default=0.0)
    cores = os.cpu_count() or 1
    if busiest > cores:
        header += (
            f" The machine was busy (a 1-minute load average of {busiest:.1f} on {cores} cores): other "
            "processes took CPU time during the measurements, so these figures are not comparable with a "
            "quiet run."
        )
    return header


def commands_block(directory: str) -> str:
    parts = []
    for path in sorted(glob.glob(os.path.join(directory, "*.command"))):
        name = os.path.basename(path)[: -len(".command")]
        parts.append(f"# server: {name}\n{read_text(path)}")
    load_commands = read_text(os.path.join(directory, "commands.txt"))
    if load_commands:
        parts.append(load_commands)
    if not parts:
        return ""
    return "<details><summary>Commands</summary>\n\n```\n" + "\n".join(parts) + "\n```\n\n</details>"


def servers_in(directory: str, order: list[str]) -> list[str]:
    present = [name for name in order if os.path.isdir(os.path.join(directory, name))]
    others = sorted(
        name for name in os.listdir(directory) if os.path.isdir(os.path.join(directory, name)) and name not in order
    )
    return present + others


# --- Workloads ---


def section_w1(directory: str) -> str:
    order = ["sluice", "sluice-2-loops", "sluice-http-only", "fastapi", "fastapi-2w"]
    base = median_of(rounds(os.path.join(directory, "fastapi"), "h1-round*.json"), "req_per_s")
    base_p99 = median_of(rounds(os.path.join(directory, "fastapi"), "h1-round*.json"), "latency_p99_ms")

    rows = []
    figures: dict[tuple[str, str], tuple[Optional[float], Optional[float]]] = {}
    for server in servers_in(directory, order):
        for protocol, pattern in (("HTTP/1.1", "h1-round*.json"), ("h2c", "h2c-round*.json")):
            results = rounds(os.path.join(directory, server), pattern)
            if not results:
                continue
            rate = median_of(results, "req_per_s")
            p99 = median_of(results, "latency_p99_ms")
            figures[(server, protocol)] = (rate, p99)
            rows.append([
                title(server), protocol, str(len(results)), number(rate),
                milliseconds(median_of(results, "latency_p50_ms")), milliseconds(p99), ratio(rate, base),
            ])
    header = ["server", "protocol", "rounds", "req/s", "latency p50", "latency p99", "req/s vs FastAPI (1 worker)"]

    sluice_rate, sluice_p99 = figures.get(("sluice", "HTTP/1.1"), (None, None))
    http_only_rate, _ = figures.get(("sluice-http-only", "HTTP/1.1"), (None, None))
    goals = [
        goal_line(
            "Sluice serves at least 10x the req/s of FastAPI (1 worker) with a lower p99",
            None if sluice_rate is None or base is None
            else sluice_rate >= 10 * base and (sluice_p99 or 0) < (base_p99 or 0),
        ),
        goal_line(
            "Sluice's HTTP layer alone serves at least 25x the req/s of FastAPI (1 worker)",
            None if http_only_rate is None or base is None else http_only_rate >= 25 * base,
        ),
    ]
    load = parameters(directory)
    return join_paragraphs([
        "## W1: overhead",
        "`POST /v1/completions` with `{\"model\":\"simulated\",\"prompt\":\"hello\",\"max_tokens\":1}`, "
        f"simulated accelerator with zero step time, h2load with {load.get('connections', '?')} connections and "
        f"keep-alive, {load.get('duration', '?')} measured seconds after {load.get('warmup', '?')} s of warm-up. "
        "Latency is h2load's time per request from its log file. " + ZERO_STEP_THREADS_NOTE,
        run_header(directory),
        table(header, rows),
        "\n".join(goals),
        commands_block(directory),
    ])


def stream_rows(
    directory: str, servers: list[str], base_server: str, pattern: str = "round*.json", extra: Optional[Callable] = None
) -> tuple[list[list[str]], dict[str, dict]]:
    base_results = rounds(os.path.join(directory, base_server), pattern)
    base = median_of(base_results, "tokens_per_s")
    rows = []
    figures: dict[str, dict] = {}
    for server in servers:
        results = rounds(os.path.join(directory, server), pattern)
        if not results:
            continue
        summary = {
            key: median_of(results, key)
            for key in ("streams_per_s", "tokens_per_s", "ttft_p50_ms", "ttft_p99_ms", "itl_p50_ms", "itl_p99_ms")
        }
        summary["censored"] = any(
            result.get("ttft_p50_lower_bound") or result.get("ttft_p99_lower_bound") for result in results
        )
        figures[server] = summary
        ttft = {}
        for name in ("p50", "p99"):
            ttft[name] = milliseconds(summary[f"ttft_{name}_ms"])
            if any(result.get(f"ttft_{name}_lower_bound") for result in results):
                ttft[name] = "≥ " + ttft[name]
        row = [
            title(server), str(len(results)), number(summary["streams_per_s"], 1), number(summary["tokens_per_s"]),
            ttft["p50"], ttft["p99"],
            milliseconds(summary["itl_p50_ms"]), milliseconds(summary["itl_p99_ms"]),
        ]
        if extra is not None:
            row += extra(summary)
        row.append(ratio(summary["tokens_per_s"], base))
        rows.append(row)
    return rows, figures


STREAM_HEADER = ["server", "rounds", "streams/s", "tokens/s", "TTFT p50", "TTFT p99", "ITL p50", "ITL p99"]
CENSORED_NOTE = (
    "A TTFT marked ≥ is a lower bound: in at least one round, requests still waiting for their first token "
    "when the measurement ended had waited that long already, and they count with the time they had waited."
)


ZERO_STEP_THREADS_NOTE = (
    "Sluice and its HTTP layer alone run one event loop (`--threads 1`), as FastAPI runs one uvicorn worker, "
    "because the load generator needs the machine's other core. The row with 2 event loops shows Sluice's "
    "default on 2 cores, where the loops and the load generator compete for the same cores."
)


def stream_load_generator(directory: str) -> str:
    """Name the streaming load generator of a workload's run, from its recorded load commands."""
    commands = read_text(os.path.join(directory, "commands.txt"))
    if "stream_client.py" in commands:
        return "scripts/bench/stream_client.py"
    if re.search(r"\bbench\b.*--json", commands):
        return "`sluice bench`"
    return "the streaming load generator"


def section_w2(directory: str) -> str:
    order = ["sluice", "sluice-2-loops", "sluice-http-only", "fastapi", "fastapi-2w"]
    rows, figures = stream_rows(directory, servers_in(directory, order), "fastapi")
    header = STREAM_HEADER + ["tokens/s vs FastAPI (1 worker)"]
    sluice = figures.get("sluice")
    fastapi = figures.get("fastapi")
    http_only = figures.get("sluice-http-only")
    goals = [
        goal_line(
            "Sluice delivers at least 10x the streams/s of FastAPI (1 worker) with a lower TTFT p99",
            None if not sluice or not fastapi
            else sluice["streams_per_s"] >= 10 * fastapi["streams_per_s"]
            and sluice["ttft_p99_ms"] < fastapi["ttft_p99_ms"],
        ),
        goal_line(
            "Sluice's HTTP layer alone delivers at least 25x the streams/s of FastAPI (1 worker)",
            None if not http_only or not fastapi else http_only["streams_per_s"] >= 25 * fastapi["streams_per_s"],
        ),
    ]
    load = parameters(directory)
    client = stream_load_generator(directory)
    client_note = ""
    if client == "`sluice bench`":
        client_note = (
            " W2 uses this compiled client rather than scripts/bench/stream_client.py because on 2 cores the "
            "Python client reached its own limit before the servers did, so it measured itself."
        )
    return join_paragraphs([
        "## W2: token stream",
        "`POST /v1/completions` with `\"stream\": true` and `max_tokens` 32 at zero step time: 32 SSE events "
        "with a token each, one closing event with the finish reason, then `data: [DONE]`. "
        f"{client} keeps {load.get('connections', '?')} connections busy for "
        f"{load.get('duration', '?')} measured seconds after {load.get('warmup', '?')} s of warm-up."
        + client_note + " " + ZERO_STEP_THREADS_NOTE,
        run_header(directory),
        table(header, rows),
        CENSORED_NOTE if any(summary["censored"] for summary in figures.values()) else "",
        "\n".join(goals),
        commands_block(directory),
    ])


def section_w3(directory: str) -> str:
    order = ["sluice", "ray-serve", "fastapi-lock"]

    def fraction_of_ideal(summary: dict) -> list[str]:
        tokens = summary["tokens_per_s"]
        return ["n/a" if tokens is None else f"{100 * tokens / IDEAL_TOKENS_PER_S:.1f}%"]

    rows, figures = stream_rows(directory, servers_in(directory, order), "ray-serve", extra=fraction_of_ideal)
    header = STREAM_HEADER + ["of ideal", "tokens/s vs Ray Serve"]
    sluice = figures.get("sluice")
    goals = [
        goal_line(
            f"Sluice delivers at least 90% of the ideal {IDEAL_TOKENS_PER_S:,.0f} tokens/s",
            None if not sluice or sluice["tokens_per_s"] is None
            else sluice["tokens_per_s"] >= 0.9 * IDEAL_TOKENS_PER_S,
        ),
    ]
    notes = [
        f"The ideal is {MAX_BATCH_SIZE} tokens per full step of {STEP_BASE_MS:g} ms + {STEP_PER_SEQ_MS:g} ms x "
        f"{MAX_BATCH_SIZE} = {FULL_STEP_MS:g} ms, {IDEAL_TOKENS_PER_S:,.0f} tokens/s.",
    ]
    if any(summary["censored"] for summary in figures.values()):
        notes.append(CENSORED_NOTE)
    load = parameters(directory)
    return join_paragraphs([
        "## W3: batching",
        "Simulated accelerator with step time 5 ms + 0.1 ms x batch size, batch at most 64, 32 tokens per "
        f"request, {load.get('clients', '?')} streaming clients for {load.get('duration', '?')} measured seconds "
        f"after {load.get('warmup', '?')} s of warm-up. Ray Serve runs one "
        "replica with `@serve.batch(max_batch_size=64, batch_wait_timeout_s=0.002)` over the same simulated "
        "step; the FastAPI peer runs each request under one `asyncio.Lock`, a batch of one.",
        run_header(directory),
        table(header, rows),
        " ".join(notes),
        "\n".join(goals),
        commands_block(directory),
    ])


def parse_prometheus(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Parse Prometheus text exposition into {metric name: [(labels, value)]}."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    line_pattern = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
    label_pattern = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = line_pattern.match(line)
        if not match:
            continue
        name, labels_text, value = match.groups()
        labels = dict(label_pattern.findall(labels_text or ""))
        try:
            samples.setdefault(name, []).append((labels, float(value)))
        except ValueError:
            continue
    return samples


def metric_total(samples: dict, name: str) -> float:
    return sum(value for _, value in samples.get(name, []))


def histogram_delta(before: dict, after: dict, name: str) -> tuple[float, float, list[tuple[float, float]]]:
    """Return (count, sum, [(upper bound, cumulative count)]) of a histogram between two scrapes,
    summed over its label sets."""
    count = metric_total(after, name + "_count") - metric_total(before, name + "_count")
    total = metric_total(after, name + "_sum") - metric_total(before, name + "_sum")
    buckets: dict[float, float] = {}
    for sign, samples in ((-1, before), (1, after)):
        for labels, value in samples.get(name + "_bucket", []):
            bound = float("inf") if labels.get("le") in ("+Inf", "Inf") else float(labels.get("le", "nan"))
            buckets[bound] = buckets.get(bound, 0.0) + sign * value
    return count, total, sorted(buckets.items())


def histogram_quantile_bound(buckets: list[tuple[float, float]], count: float, fraction: float) -> Optional[float]:
    """Return the upper bound of the bucket that contains the given quantile."""
    if count <= 0:
        return None
    for bound, cumulative in buckets:
        if cumulative >= fraction * count:
            return bound
    return None


def section_w6(directory: str) -> str:
    server_directory = os.path.join(directory, "sluice")
    names = read_text(os.path.join(directory, "metric-names")).splitlines()
    if len(names) < 5:
        return "## W6: cancellation\n\nNo results."
    cancellations_name, release_name, discarded_name, step_name, generated_name = names[:5]

    rows = []
    discarded_per_cancel: list[Optional[float]] = []
    release_means: list[Optional[float]] = []
    step_means: list[Optional[float]] = []
    for index, result in enumerate(rounds(server_directory, "round*.json"), start=1):
        before = parse_prometheus(read_text(os.path.join(server_directory, f"metrics-before-round{index}.txt")))
        after = parse_prometheus(read_text(os.path.join(server_directory, f"metrics-after-round{index}.txt")))
        cancellations = metric_total(after, cancellations_name) - metric_total(before, cancellations_name)
        release_count, release_sum, release_buckets = histogram_delta(before, after, release_name)
        step_count, step_sum, _ = histogram_delta(before, after, step_name)
        discarded = metric_total(after, discarded_name) - metric_total(before, discarded_name)
        generated = metric_total(after, generated_name) - metric_total(before, generated_name)
        # Every sequence in a step gets one token, kept or discarded.
        mean_batch = (generated + discarded) / step_count if step_count else None
        release_p50 = histogram_quantile_bound(release_buckets, release_count, 0.5)
        release_p99 = histogram_quantile_bound(release_buckets, release_count, 0.99)
        step_mean_ms = step_sum / step_count * 1000 if step_count else None
        release_means.append(release_sum / release_count * 1000 if release_count else None)
        discarded_per_cancel.append(discarded / cancellations if cancellations else None)
        step_means.append(step_mean_ms)
        rows.append([
            str(index), number(result.get("cancelled")), number(cancellations),
            milliseconds(release_sum / release_count * 1000) if release_count else "n/a",
            "≤ " + milliseconds(release_p50 * 1000) if release_p50 is not None else "n/a",
            "≤ " + milliseconds(release_p99 * 1000) if release_p99 is not None else "n/a",
            milliseconds(step_mean_ms), number(mean_batch, 1), number(discarded), number(result.get("tokens_per_s")),
        ])

    header = [
        "round", "client disconnects", "cancellations", "release mean", "release p50", "release p99",
        "mean step", "mean batch", "tokens computed after cancellation", "tokens/s delivered",
    ]

    per_cancellation = median(discarded_per_cancel)
    release_mean = median(release_means)
    step = median(step_means)
    met = None
    if per_cancellation is not None and release_mean is not None and step is not None:
        met = per_cancellation <= 1.0 and release_mean <= step
    load = parameters(directory)
    fraction = float(load.get("disconnect_fraction", "nan"))
    return join_paragraphs([
        "## W6: cancellation",
        f"The W3 accelerator and {load.get('clients', '?')} streaming clients for {load.get('duration', '?')} "
        f"measured seconds. {fraction:.0%} of the clients close their connection after "
        f"{load.get('disconnect_after', '?')} tokens of each stream and open a new one. "
        "From Sluice's /metrics before and after each round: the time from a cancellation to the step plan "
        "that releases the sequence (a histogram, so p50 and p99 are bucket upper bounds), the mean step time, "
        "and the tokens computed for sequences that were already cancelled. The cancellations also count the "
        "streams still open when a round ends, which the client closes.",
        run_header(directory),
        table(header, rows),
        goal_line(
            "a cancelled sequence leaves the batch within one step: at most one token computed per "
            "cancellation, and a mean release time of at most the mean step",
            met,
        ),
        commands_block(directory),
    ])


# Tokens in W4's chat prompt after the chat template, as llama-server's usage counts them.
W4_PROMPT_TOKENS = 55


def section_w4(directory: str) -> str:
    order = ["sluice", "llama-server"]
    servers = servers_in(directory, order)
    streams_levels = sorted({
        int(match.group(1))
        for server in servers
        for path in glob.glob(os.path.join(directory, server, "streams*-round*.json"))
        if (match := re.search(r"streams(\d+)-round", path))
    })
    tokens_at: dict[tuple[str, int], Optional[float]] = {}
    for streams in streams_levels:
        for server in servers:
            results = rounds(os.path.join(directory, server), f"streams{streams}-round*.json")
            if results:
                tokens_at[(server, streams)] = median_of(results, "tokens_per_s")

    rows = []
    for streams in streams_levels:
        for server in servers:
            results = rounds(os.path.join(directory, server), f"streams{streams}-round*.json")
            if not results:
                continue
            tokens = tokens_at[(server, streams)]
            rows.append([
                str(streams), title(server), str(len(results)), number(tokens, 1),
                milliseconds(median_of(results, "ttft_p50_ms")), milliseconds(median_of(results, "ttft_p99_ms")),
                milliseconds(median_of(results, "itl_p50_ms")), milliseconds(median_of(results, "itl_p99_ms")),
                ratio(tokens, tokens_at.get(("llama-server", streams))) if server != "llama-server" else "1.00x",
            ])
    memory_rows = []
    for server in servers:
        idle = read_json(os.path.join(directory, server, "rss-idle.json")) or {}
        end = read_json(os.path.join(directory, server, "rss-end.json")) or {}

        def mebibytes(kib: Optional[float]) -> str:
            return "n/a" if kib is None else f"{kib / 1024:.0f} MiB"

        memory_rows.append([
            title(server), mebibytes(idle.get("idle_rss_kib")), mebibytes(end.get("peak_rss_kib")),
            mebibytes(end.get("after_rss_kib")),
        ])
    top = max(streams_levels) if streams_levels else 16
    sluice_top = tokens_at.get(("sluice", top))
    llama_top = tokens_at.get(("llama-server", top))

    # One stream alone: prefill speed from the time to first token (which
    # also includes the HTTP round trip and tokenizing, so it understates the
    # engine), and decode speed from the median gap between tokens.
    single_rows = []
    single: dict[str, tuple[Optional[float], Optional[float]]] = {}
    for server in servers:
        results = rounds(os.path.join(directory, server), "streams1-round*.json")
        if not results:
            continue
        ttft = median_of(results, "ttft_p50_ms")
        itl = median_of(results, "itl_p50_ms")
        prefill = None if not ttft else W4_PROMPT_TOKENS / (ttft / 1000)
        decode = None if not itl else 1000 / itl
        single[server] = (prefill, decode)
        single_rows.append([title(server), number(prefill, 0), number(decode, 1)])
    memory: dict[str, Optional[float]] = {}
    for server in servers:
        end = read_json(os.path.join(directory, server, "rss-end.json")) or {}
        memory[server] = end.get("peak_rss_kib")
    decode_met = None
    if "sluice" in single and "llama-server" in single and None not in (single["sluice"][1], single["llama-server"][1]):
        decode_met = single["sluice"][1] >= 0.5 * single["llama-server"][1]
    memory_met = None
    if memory.get("sluice") is not None and memory.get("llama-server") is not None:
        memory_met = memory["sluice"] <= 2 * memory["llama-server"]
    return join_paragraphs([
        "## W4: real model",
        "SmolLM2-135M-Instruct (Q4_1 GGUF) on the CPU, streaming chat requests with a prompt of about 50 tokens "
        "after the chat template, 64 tokens each (`ignore_eos`), temperature 0, every prompt processed "
        "(`cache_prompt: false` for llama-server). Each level sends max(4, 2 x streams) requests. "
        "llama-server runs with 16 slots, continuous batching, 2 threads and a 16,384-token context.",
        run_header(directory),
        table(
            ["streams", "server", "rounds", "tokens/s", "TTFT p50", "TTFT p99", "ITL p50", "ITL p99",
             "tokens/s vs llama-server"],
            rows,
        ),
        table(["server", "RSS idle", "RSS peak", "RSS after"], memory_rows),
        f"One stream alone, from the 1-stream rows: prefill tokens/s is the {W4_PROMPT_TOKENS}-token prompt divided "
        "by the median time to first token (which includes the HTTP round trip), decode tokens/s is 1 s divided "
        "by the median gap between tokens.",
        table(["server", "prefill tokens/s", "decode tokens/s"], single_rows),
        goal_line(
            f"Sluice's aggregate tokens/s at {top} streams is at least llama-server's",
            None if sluice_top is None or llama_top is None else sluice_top >= llama_top,
        ),
        goal_line("Sluice's single-stream decode is at least half of llama-server's", decode_met),
        goal_line("Sluice's peak resident memory is at most twice llama-server's", memory_met),
        commands_block(directory),
    ])


SECTIONS = [("W1", section_w1), ("W2", section_w2), ("W3", section_w3), ("W4", section_w4), ("W6", section_w6)]


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the benchmark report from scripts/bench.sh's results.")
    parser.add_argument("--results", default="bench-out/results", help="folder with one subfolder per workload")
    parser.add_argument("--output", default="docs/BENCHMARKS.md", help="Markdown file to write")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server in the run (for the text)")
    parser.add_argument("--sluice", default=".build/release/sluice", help="path of the measured sluice binary")
    parser.add_argument("--llama-server", default=".cache/llama-cpp-build/bin/llama-server")
    arguments = parser.parse_args()

    sections = []
    for workload, render in SECTIONS:
        directory = os.path.join(arguments.results, workload)
        if os.path.isdir(directory):
            sections.append(render(directory))

    generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    document = join_paragraphs([
        "# Benchmarks",
        "Sluice and its peers, measured side by side on the same machine with the same load generators. "
        "`scripts/bench.sh` writes this page; run it again to refresh it (`scripts/bench.sh W1 W3` refreshes only "
        "those sections). Ratios between servers measured in the same run are the figures to compare: absolute "
        "numbers move with the machine and with whatever else runs on it.",
        "## Method",
        "\n".join([
            f"- Every server and load generator runs inside one private network namespace with only loopback, "
            f"so nothing leaves the machine and every process ends with the run.",
            f"- Each workload starts its servers once, then measures them in {arguments.rounds} alternating rounds. "
            f"The servers not being measured are stopped with SIGSTOP, so they use no CPU. Tables show the median "
            f"of the rounds.",
            "- The load generator shares the machine's cores with the server it measures, for every server alike.",
            "- h2load measures request rates. `sluice bench` (one thread, epoll) measures W2's streams, and "
            "scripts/bench/stream_client.py (asyncio with a minimal HTTP/1.1 parser) those of W3, W4 and W6; both "
            "count tokens and time them the same way. TTFT is the time from writing a request to its first token "
            "event, ITL the gap between token events of one stream as they arrive at the client.",
            "- Peers are installed from PyPI into .cache/bench-venv by scripts/bench/install-peers.sh; llama-server "
            "is built from llama-cpp-python's source package.",
        ]),
        "## Machine and versions",
        "\n".join(machine_description() + versions(arguments.sluice, arguments.llama_server)
                  + [f"- Report written {generated}"]),
        *sections,
    ])
    with open(arguments.output, "w") as output:
        output.write(document.rstrip() + "\n")


if __name__ == "__main__":
    main()
