#!/usr/bin/env bash
# Measures Sluice and its peers side by side in one run and writes
# docs/BENCHMARKS.md.
#
# Usage: scripts/bench.sh [--peers-only] [W1] [W2] [W3] [W4] [W6]
#
# With no workload named it runs W1 W2 W3 W6 W4. Each workload starts its
# servers once, then measures them in alternating rounds (BENCH_ROUNDS, 3 by
# default) while the servers not being measured are stopped with SIGSTOP, so
# they take no CPU. Raw results go to bench-out/results/WORKLOAD/, and the
# report is rebuilt from the latest results of every workload, so a run of
# one workload keeps the other sections. --peers-only measures the peers
# without Sluice (for testing the harness before the gateway exists).
#
# The peers are installed first (scripts/bench/install-peers.sh, needs
# network), then everything else runs inside scripts/bench/netns.sh, where
# only loopback exists and every process started ends with the run.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# --- Configuration: every server and load command line is built from these ---

SLUICE="${SLUICE_BINARY:-.build/release/sluice}"
# The HTTP layer alone: it serves W1/W2 with the same bytes and no scheduler.
SLUICE_HTTP_BENCH="${SLUICE_HTTP_BENCH_BINARY:-.build/release/sluice-http-bench}"
VENV=.cache/bench-venv
PYTHON="$VENV/bin/python"
LLAMA_SERVER="${LLAMA_SERVER:-.cache/llama-cpp-build/bin/llama-server}"
MODEL_PATH="${BENCH_MODEL:-.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
ROUNDS="${BENCH_ROUNDS:-3}"
OUT="${BENCH_OUT:-bench-out}"
REPORT="${BENCH_REPORT:-docs/BENCHMARKS.md}"
HOST=127.0.0.1

SLUICE_PORT=18080
FASTAPI_PORT=18081
FASTAPI_2W_PORT=18082
LOCK_PORT=18083
RAY_PORT=18084
LLAMA_PORT=18085
SLUICE_HTTP_ONLY_PORT=18090
SLUICE_2_LOOPS_PORT=18091

# Sluice's flags per workload. W1 and W2 run Sluice with one event loop, as
# FastAPI runs one uvicorn worker: the load generator needs the other core of
# a 2-core machine. A second Sluice with two loops is reported beside it.
SLUICE_FLAGS_ZERO_STEP=(--backend simulated --step-base 0ms --step-per-seq 0ms --threads 1)
SLUICE_FLAGS_ZERO_STEP_2_LOOPS=(--backend simulated --step-base 0ms --step-per-seq 0ms --threads 2)
SLUICE_FLAGS_BATCHING=(--backend simulated --step-base 5ms --step-per-seq 0.1ms --max-batch-size 64)
SLUICE_FLAGS_ENGINE=(--backend engine --model "$MODEL_PATH" --model-name smollm2 --engine-threads 2)
# Flags of sluice-http-bench, which serves W1/W2 from the HTTP layer alone
# (the 25x goal); W1/W2 skip this variant while the array is empty.
SLUICE_FLAGS_HTTP_ONLY=(--threads 1)
# 1 adds an h2c run of W1 against Sluice (not the peers: uvicorn has no h2c).
SLUICE_H2C="${SLUICE_H2C:-0}"
H2C_STREAMS_PER_CONNECTION=1

# The simulated accelerator of W3 and W6, for the Python peers.
STEP_BASE_MS=5
STEP_PER_SEQ_MS=0.1
MAX_BATCH_SIZE=64

# W1 and W2: 64 connections, by default 5 measured seconds after 1 s of warm-up.
W1_CONNECTIONS=64
W12_DURATION="${BENCH_W12_DURATION:-5}"
W12_WARMUP=1
W1_BODY='{"model":"simulated","prompt":"hello","max_tokens":1}'
W2_BODY='{"model":"simulated","prompt":"hello","max_tokens":32,"stream":true}'
# W3 and W6: by default 256 streaming clients, 10 measured seconds after 2 s
# of warm-up. The BENCH_* overrides exist for quick tests of the harness.
W3_CLIENTS="${BENCH_W3_CLIENTS:-256}"
W3_DURATION="${BENCH_W3_DURATION:-10}"
W3_WARMUP=2
W3_BODY="$W2_BODY"
W6_DISCONNECT_AFTER=4
W6_DISCONNECT_FRACTION=0.5
# W4: chat streams, every prompt processed (cache_prompt false for
# llama-server), exactly 64 tokens each (ignore_eos). Each level sends
# max(4, 2 x streams) requests.
read -r -a W4_STREAMS <<<"${BENCH_W4_STREAMS:-1 4 8 16}"
W4_MAX_SECONDS=120
W4_BODY='{"model":"smollm2","messages":[{"role":"user","content":"Write a short story about a lighthouse keeper who finds a message in a bottle on a stormy night. Say what it says."}],"max_tokens":64,"temperature":0,"stream":true,"cache_prompt":false,"ignore_eos":true}'
LLAMA_SERVER_FLAGS=(-np 16 -c 16384 --cont-batching -t 2)

# W6 reads these Prometheus metrics from Sluice's /metrics before and after.
W6_METRIC_CANCELLATIONS=sluice_cancellations_total
W6_METRIC_RELEASE_SECONDS=sluice_cancellation_release_seconds
W6_METRIC_DISCARDED_TOKENS=sluice_discarded_tokens_total
W6_METRIC_STEP_SECONDS=sluice_worker_step_seconds
W6_METRIC_GENERATED_TOKENS=sluice_generated_tokens_total

# --- Command lines ---

# Each sets the array `server_command` to a server's command line.
sluice_command() { # PORT FLAGS...
    local port="$1"
    shift
    server_command=("$SLUICE" serve --host "$HOST" --port "$port" --log-level warning "$@")
}
uvicorn_command() { # APP PORT WORKERS
    server_command=("$VENV/bin/uvicorn" --app-dir scripts/bench/peers "$1" --host "$HOST" --port "$2" --workers "$3"
        --loop uvloop --http httptools --no-access-log --log-level warning)
}
batching_peer_environment=(env "BENCH_STEP_BASE_MS=$STEP_BASE_MS" "BENCH_STEP_PER_SEQ_MS=$STEP_PER_SEQ_MS"
    "BENCH_MAX_BATCH_SIZE=$MAX_BATCH_SIZE")

usage() {
    sed -n '5,13p' "$0" | sed 's/^# \{0,1\}//'
}

peers_only=0
workloads=()
for argument in "$@"; do
    case "$argument" in
        --peers-only) peers_only=1 ;;
        W1 | W2 | W3 | W4 | W6) workloads+=("$argument") ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            echo "bench: unknown argument '$argument'; expected --peers-only or workloads W1 W2 W3 W4 W6" >&2
            exit 2
            ;;
    esac
done
if ((${#workloads[@]} == 0)); then
    workloads=(W1 W2 W3 W6 W4)
fi

# --- Outside the namespace: install, build, then re-run inside it ---

if [[ "${SLUICE_BENCH_IN_NETNS:-}" != 1 ]]; then
    if [[ "${BENCH_SKIP_INSTALL:-0}" != 1 ]]; then
        scripts/bench/install-peers.sh
    fi
    # Always build: a stale binary would measure old code. Quick when nothing changed.
    if ((peers_only == 0)) || [[ " ${workloads[*]} " == *" W2 "* ]]; then
        # W2's load generator is `sluice bench`, so W2 needs sluice even with --peers-only.
        swift build -c release --product sluice
    fi
    if ((peers_only == 0)); then
        swift build -c release --product sluice-http-bench
    fi
    exec scripts/bench/netns.sh "$0" "$@"
fi

# --- Inside the namespace ---

mkdir -p "$OUT/results"
log() { echo "bench: $*" >&2; }

declare -A server_pid=()
declare -A server_health=()

# Prints PID and all its descendants, parents first.
process_tree() {
    local pid="$1" child
    echo "$pid"
    for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
        process_tree "$child"
    done
}

signal_server() { # NAME SIGNAL
    local pids
    mapfile -t pids < <(process_tree "${server_pid[$1]}")
    kill "-$2" "${pids[@]}" 2>/dev/null || true
}

# Starts a server in the background, logging to $run_dir/NAME.log.
start_server() { # NAME HEALTH_URL COMMAND...
    local name="$1" health="$2"
    shift 2
    shell_quote "$@" >"$run_dir/$name.command"
    "$@" >"$run_dir/$name.log" 2>&1 </dev/null &
    server_pid[$name]=$!
    server_health[$name]="$health"
}

wait_ready() { # NAME TIMEOUT_SECONDS
    local name="$1" deadline=$((SECONDS + $2))
    while ! curl -s -f -o /dev/null --max-time 2 "${server_health[$name]}"; do
        if ! kill -0 "${server_pid[$name]}" 2>/dev/null; then
            log "error: $name exited before it was ready; last lines of $run_dir/$name.log:"
            tail -20 "$run_dir/$name.log" >&2
            return 1
        fi
        if ((SECONDS > deadline)); then
            log "error: $name not ready after $2 s (${server_health[$name]}); see $run_dir/$name.log"
            return 1
        fi
        sleep 0.25
    done
}

# Stops a server: SIGTERM, then SIGKILL to the whole tree after 20 s.
stop_server() { # NAME
    local name="$1" pid="${server_pid[$1]}" tree
    mapfile -t tree < <(process_tree "$pid")
    kill -CONT "${tree[@]}" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 20))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
        sleep 0.2
    done
    kill -KILL "${tree[@]}" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "server_pid[$name]"
}

stop_all_servers() {
    local name
    for name in "${!server_pid[@]}"; do
        stop_server "$name"
    done
}
trap stop_all_servers EXIT

freeze() { signal_server "$1" STOP; }
thaw() { signal_server "$1" CONT; }

# Prints the arguments as one shell command line, quoting where needed.
shell_quote() {
    local quoted=() argument
    for argument in "$@"; do
        if [[ "$argument" =~ ^[A-Za-z0-9_./:=,+@%-]+$ ]]; then
            quoted+=("$argument")
        else
            quoted+=("'${argument//\'/\'\\\'\'}'")
        fi
    done
    echo "${quoted[*]}"
}

# Records a measured command once per workload, for the report.
record_command() { # LABEL COMMAND...
    local label="$1"
    shift
    if ! grep -q -F -x "# $label" "$run_dir/commands.txt" 2>/dev/null; then
        printf '# %s\n%s\n' "$label" "$(shell_quote "$@")" >>"$run_dir/commands.txt"
    fi
}

# Records the workload's load parameters for the report's text.
record_parameters() { # KEY=VALUE...
    local pair
    for pair in "$@"; do
        echo "$pair"
    done >"$run_dir/parameters"
}

rss_kib() { # PID FIELD (VmRSS or VmHWM)
    awk -v field="$2:" '$1 == field { print $2 }' "/proc/$1/status" 2>/dev/null || echo null
}

run_h2load() { # RESULT_PREFIX LABEL URL EXTRA_FLAGS...
    local prefix="$1" label="$2" url="$3"
    shift 3
    local load_command=(h2load "$@" -c "$W1_CONNECTIONS" -D "$W12_DURATION" --warm-up-time "$W12_WARMUP"
        -d "$run_dir/w1-body.json" -H 'content-type: application/json' --log-file="$prefix.log" "$url")
    record_command "$label" "${load_command[@]}"
    "${load_command[@]}" >"$prefix.h2load" 2>&1 </dev/null || log "warning: h2load failed; see $prefix.h2load"
    "$PYTHON" scripts/bench/h2load_stats.py "$prefix.h2load" "$prefix.log" >"$prefix.json"
    rm -f "$prefix.log"
}

run_stream_client() { # RESULT_FILE LABEL CLIENT_FLAGS...
    local result="$1" label="$2"
    shift 2
    local load_command=("$PYTHON" scripts/bench/stream_client.py "$@")
    record_command "$label" "${load_command[@]}"
    "${load_command[@]}" >"$result" </dev/null
}

# `sluice bench` takes stream_client.py's flags and prints the same JSON keys.
# W2 uses it because on 2 cores the Python client ran out of CPU before the
# servers did, so W2 measured the client rather than the server.
run_sluice_bench() { # RESULT_FILE LABEL BENCH_FLAGS...
    local result="$1" label="$2"
    shift 2
    local load_command=("$SLUICE" bench "$@" --json)
    record_command "$label" "${load_command[@]}"
    "${load_command[@]}" >"$result" </dev/null
}

# Sets run_dir to a fresh results folder for WORKLOAD.
begin_workload() { # WORKLOAD
    run_dir="$OUT/results/$1"
    rm -rf "$run_dir"
    mkdir -p "$run_dir"
    date -u +%Y-%m-%dT%H:%M:%SZ >"$run_dir/started"
    git describe --always --dirty --abbrev=12 >"$run_dir/sluice-revision" 2>/dev/null || echo unknown >"$run_dir/sluice-revision"
    cat /proc/loadavg >"$run_dir/loadavg-start"
    log "$1: results in $run_dir"
}

end_workload() {
    stop_all_servers
    date -u +%Y-%m-%dT%H:%M:%SZ >"$run_dir/finished"
    cat /proc/loadavg >"$run_dir/loadavg-end"
}

# Starts a server, waits until it is ready, and freezes it until its round.
start_frozen() { # NAME HEALTH_URL TIMEOUT COMMAND...
    local name="$1" health="$2" timeout="$3"
    shift 3
    log "starting $name"
    start_server "$name" "$health" "$@"
    wait_ready "$name" "$timeout"
    freeze "$name"
}

# W1 and W2 share their servers: Sluice at zero step time, and FastAPI
# with one and with two uvicorn worker processes.
start_zero_step_servers() {
    if ((peers_only == 0)); then
        sluice_command "$SLUICE_PORT" "${SLUICE_FLAGS_ZERO_STEP[@]}"
        start_frozen sluice "http://$HOST:$SLUICE_PORT/healthz" 60 "${server_command[@]}"
        sluice_command "$SLUICE_2_LOOPS_PORT" "${SLUICE_FLAGS_ZERO_STEP_2_LOOPS[@]}"
        start_frozen sluice-2-loops "http://$HOST:$SLUICE_2_LOOPS_PORT/healthz" 60 "${server_command[@]}"
        if ((${#SLUICE_FLAGS_HTTP_ONLY[@]} > 0)); then
            server_command=("$SLUICE_HTTP_BENCH" --host "$HOST" --port "$SLUICE_HTTP_ONLY_PORT" "${SLUICE_FLAGS_HTTP_ONLY[@]}")
            start_frozen sluice-http-only "http://$HOST:$SLUICE_HTTP_ONLY_PORT/healthz" 60 "${server_command[@]}"
        fi
    fi
    uvicorn_command fastapi_app:app "$FASTAPI_PORT" 1
    start_frozen fastapi "http://$HOST:$FASTAPI_PORT/healthz" 60 "${server_command[@]}"
    uvicorn_command fastapi_app:app "$FASTAPI_2W_PORT" 2
    start_frozen fastapi-2w "http://$HOST:$FASTAPI_2W_PORT/healthz" 60 "${server_command[@]}"
}

zero_step_targets() {
    if ((peers_only == 0)); then
        echo "sluice $SLUICE_PORT"
        echo "sluice-2-loops $SLUICE_2_LOOPS_PORT"
        if ((${#SLUICE_FLAGS_HTTP_ONLY[@]} > 0)); then
            echo "sluice-http-only $SLUICE_HTTP_ONLY_PORT"
        fi
    fi
    echo "fastapi $FASTAPI_PORT"
    echo "fastapi-2w $FASTAPI_2W_PORT"
}

workload_w1() {
    begin_workload W1
    record_parameters "connections=$W1_CONNECTIONS" "duration=$W12_DURATION" "warmup=$W12_WARMUP"
    echo "$W1_BODY" >"$run_dir/w1-body.json"
    start_zero_step_servers
    local round name port
    for round in $(seq 1 "$ROUNDS"); do
        while read -r name port; do
            log "W1 round $round: $name"
            mkdir -p "$run_dir/$name"
            thaw "$name"
            run_h2load "$run_dir/$name/h1-round$round" "W1 $name HTTP/1.1" \
                "http://$HOST:$port/v1/completions" --h1
            if [[ "$name" == sluice* && "$SLUICE_H2C" == 1 ]]; then
                run_h2load "$run_dir/$name/h2c-round$round" "W1 $name h2c" \
                    "http://$HOST:$port/v1/completions" -m "$H2C_STREAMS_PER_CONNECTION"
            fi
            freeze "$name"
        done < <(zero_step_targets)
    done
    end_workload
}

workload_w2() {
    begin_workload W2
    record_parameters "connections=$W1_CONNECTIONS" "duration=$W12_DURATION" "warmup=$W12_WARMUP"
    start_zero_step_servers
    local round name port
    for round in $(seq 1 "$ROUNDS"); do
        while read -r name port; do
            log "W2 round $round: $name"
            mkdir -p "$run_dir/$name"
            thaw "$name"
            run_sluice_bench "$run_dir/$name/round$round.json" "W2 $name" \
                --url "http://$HOST:$port/v1/completions" --body "$W2_BODY" \
                --concurrency "$W1_CONNECTIONS" --duration "$W12_DURATION" --warmup "$W12_WARMUP"
            freeze "$name"
        done < <(zero_step_targets)
    done
    end_workload
}

workload_w3() {
    begin_workload W3
    record_parameters "clients=$W3_CLIENTS" "duration=$W3_DURATION" "warmup=$W3_WARMUP"
    local targets=()
    if ((peers_only == 0)); then
        sluice_command "$SLUICE_PORT" "${SLUICE_FLAGS_BATCHING[@]}"
        start_frozen sluice "http://$HOST:$SLUICE_PORT/healthz" 60 "${server_command[@]}"
        targets+=("sluice $SLUICE_PORT")
    fi
    start_frozen ray-serve "http://$HOST:$RAY_PORT/healthz" 300 "${batching_peer_environment[@]}" \
        "$PYTHON" scripts/bench/peers/ray_serve_app.py --port "$RAY_PORT"
    uvicorn_command fastapi_lock_app:app "$LOCK_PORT" 1
    start_frozen fastapi-lock "http://$HOST:$LOCK_PORT/healthz" 60 "${batching_peer_environment[@]}" "${server_command[@]}"
    targets+=("ray-serve $RAY_PORT" "fastapi-lock $LOCK_PORT")

    local round target name port
    for round in $(seq 1 "$ROUNDS"); do
        for target in "${targets[@]}"; do
            read -r name port <<<"$target"
            log "W3 round $round: $name"
            mkdir -p "$run_dir/$name"
            thaw "$name"
            run_stream_client "$run_dir/$name/round$round.json" "W3 $name" \
                --url "http://$HOST:$port/v1/completions" --body "$W3_BODY" \
                --concurrency "$W3_CLIENTS" --duration "$W3_DURATION" --warmup "$W3_WARMUP"
            freeze "$name"
        done
    done
    end_workload
}

workload_w6() {
    if ((peers_only == 1)); then
        log "W6 measures Sluice alone; skipped with --peers-only"
        return
    fi
    begin_workload W6
    record_parameters "clients=$W3_CLIENTS" "duration=$W3_DURATION" "warmup=$W3_WARMUP" \
        "disconnect_after=$W6_DISCONNECT_AFTER" "disconnect_fraction=$W6_DISCONNECT_FRACTION"
    printf '%s\n' "$W6_METRIC_CANCELLATIONS" "$W6_METRIC_RELEASE_SECONDS" "$W6_METRIC_DISCARDED_TOKENS" \
        "$W6_METRIC_STEP_SECONDS" "$W6_METRIC_GENERATED_TOKENS" >"$run_dir/metric-names"
    sluice_command "$SLUICE_PORT" "${SLUICE_FLAGS_BATCHING[@]}"
    start_frozen sluice "http://$HOST:$SLUICE_PORT/healthz" 60 "${server_command[@]}"
    thaw sluice
    mkdir -p "$run_dir/sluice"
    local round
    for round in $(seq 1 "$ROUNDS"); do
        log "W6 round $round: sluice"
        curl -s "http://$HOST:$SLUICE_PORT/metrics" >"$run_dir/sluice/metrics-before-round$round.txt"
        run_stream_client "$run_dir/sluice/round$round.json" "W6 sluice" \
            --url "http://$HOST:$SLUICE_PORT/v1/completions" --body "$W3_BODY" \
            --concurrency "$W3_CLIENTS" --duration "$W3_DURATION" --warmup "$W3_WARMUP" \
            --disconnect-after "$W6_DISCONNECT_AFTER" --disconnect-fraction "$W6_DISCONNECT_FRACTION"
        # Let the last cancellations reach the scheduler before reading.
        sleep 1
        curl -s "http://$HOST:$SLUICE_PORT/metrics" >"$run_dir/sluice/metrics-after-round$round.txt"
    done
    end_workload
}

workload_w4() {
    begin_workload W4
    if [[ ! -f "$MODEL_PATH" ]]; then
        log "error: the model $MODEL_PATH is missing; run scripts/bootstrap.sh"
        return 1
    fi
    local targets=()
    if ((peers_only == 0)); then
        sluice_command "$SLUICE_PORT" "${SLUICE_FLAGS_ENGINE[@]}"
        start_frozen sluice "http://$HOST:$SLUICE_PORT/healthz" 120 "${server_command[@]}"
        targets+=("sluice $SLUICE_PORT")
    fi
    if [[ -x "$LLAMA_SERVER" ]]; then
        start_frozen llama-server "http://$HOST:$LLAMA_PORT/health" 120 \
            "$LLAMA_SERVER" -m "$MODEL_PATH" --host "$HOST" --port "$LLAMA_PORT" "${LLAMA_SERVER_FLAGS[@]}"
        targets+=("llama-server $LLAMA_PORT")
    else
        log "warning: $LLAMA_SERVER is missing (scripts/bench/install-peers.sh builds it); W4 runs without it"
    fi

    local target name port
    for target in "${targets[@]}"; do
        read -r name port <<<"$target"
        mkdir -p "$run_dir/$name"
        echo "{\"idle_rss_kib\": $(rss_kib "${server_pid[$name]}" VmRSS)}" >"$run_dir/$name/rss-idle.json"
    done

    local round streams requests
    for round in $(seq 1 "$ROUNDS"); do
        for target in "${targets[@]}"; do
            read -r name port <<<"$target"
            thaw "$name"
            # One request first, so that each round starts warm.
            curl -s -o /dev/null --max-time 60 "http://$HOST:$port/v1/chat/completions" \
                -H 'content-type: application/json' -d "$W4_BODY"
            for streams in "${W4_STREAMS[@]}"; do
                requests=$((streams * 2 > 4 ? streams * 2 : 4))
                log "W4 round $round: $name, $streams streams, $requests requests"
                run_stream_client "$run_dir/$name/streams$streams-round$round.json" "W4 $name $streams streams" \
                    --url "http://$HOST:$port/v1/chat/completions" --body "$W4_BODY" \
                    --concurrency "$streams" --requests "$requests" --duration "$W4_MAX_SECONDS" --warmup 0
            done
            freeze "$name"
        done
    done
    for target in "${targets[@]}"; do
        read -r name port <<<"$target"
        echo "{\"peak_rss_kib\": $(rss_kib "${server_pid[$name]}" VmHWM)," \
            "\"after_rss_kib\": $(rss_kib "${server_pid[$name]}" VmRSS)}" >"$run_dir/$name/rss-end.json"
    done
    end_workload
}

for workload in "${workloads[@]}"; do
    case "$workload" in
        W1) workload_w1 ;;
        W2) workload_w2 ;;
        W3) workload_w3 ;;
        W4) workload_w4 ;;
        W6) workload_w6 ;;
    esac
done

"$PYTHON" scripts/bench/report.py --results "$OUT/results" --output "$REPORT" \
    --rounds "$ROUNDS" --sluice "$SLUICE" --llama-server "$LLAMA_SERVER"
log "wrote $REPORT"
