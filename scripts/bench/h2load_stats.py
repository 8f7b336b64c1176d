#!/usr/bin/env python3
"""Summarize one h2load run as JSON: request rate and latency percentiles.

Reads h2load's stdout (for its own req/s and the status counts) and the file
written by `--log-file`, whose rows are tab-separated: request start in
microseconds since the epoch, HTTP status, microseconds until the end of the
response. With `-D` and `--warm-up-time`, h2load logs only the requests of
the measured period.

Usage: h2load_stats.py H2LOAD_STDOUT LOG_FILE
"""

from __future__ import annotations

import json
import re
import sys

from benchstats import percentile


def parse_stdout(text: str) -> dict:
    summary: dict = {}
    finished = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", text)
    if finished:
        value, unit, rate = finished.groups()
        summary["elapsed_s"] = float(value) / (1000.0 if unit == "ms" else 1.0)
        summary["h2load_req_per_s"] = float(rate)
    requests = re.search(
        r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout",
        text,
    )
    if requests:
        names = ["total", "started", "done", "succeeded", "failed", "errored", "timeout"]
        summary["requests"] = dict(zip(names, map(int, requests.groups())))
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    if codes:
        summary["status_codes"] = dict(zip(["2xx", "3xx", "4xx", "5xx"], map(int, codes.groups())))
    return summary


def parse_log(path: str) -> dict:
    latencies_us: list[int] = []
    starts_us: list[int] = []
    non_2xx = 0
    with open(path) as log:
        for line in log:
            columns = line.split("\t")
            if len(columns) < 3:
                continue
            start, status, elapsed = int(columns[0]), int(columns[1]), int(columns[2])
            if not 200 <= status < 300:
                non_2xx += 1
                continue
            starts_us.append(start)
            latencies_us.append(elapsed)
    latencies_us.sort()
    result: dict = {"logged_requests": len(latencies_us), "logged_non_2xx": non_2xx}
    for name, fraction in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        value = percentile(latencies_us, fraction)
        result[f"latency_{name}_ms"] = None if value is None else value / 1000.0
    return result


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: h2load_stats.py H2LOAD_STDOUT LOG_FILE")
    with open(sys.argv[1]) as stdout_file:
        summary = parse_stdout(stdout_file.read())
    summary.update(parse_log(sys.argv[2]))
    # The measured rate: h2load's own figure, which with -D covers only the
    # measured period and counts successful requests.
    summary["req_per_s"] = summary.get("h2load_req_per_s")
    json.dump(summary, sys.stdout, indent=None)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
