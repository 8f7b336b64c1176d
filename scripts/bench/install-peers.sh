#!/usr/bin/env bash
# Installs the benchmark peers into the git-ignored virtual environment
# .cache/bench-venv: FastAPI under uvicorn, Ray Serve 2.x, the load-client
# libraries, and llama-cpp-python 0.3.36 built from its source package.
# From the same llama.cpp build tree it also builds llama.cpp's own
# `llama-server` (and `llama-bench`), which the Python wheel does not ship.
# Idempotent: a step whose stamp matches is skipped, and a run with nothing
# to do prints nothing. The native build takes about 25 minutes on 2 cores.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

venv=.cache/bench-venv
llama_version=0.3.36
llama_src=".cache/llama-cpp-python-$llama_version"
llama_build=".cache/llama-cpp-build"
jobs="${BENCH_BUILD_JOBS:-2}"

apt_packages=(cmake ninja-build build-essential iproute2 util-linux nghttp2-client procps)
peer_requirements=(
    fastapi
    "uvicorn[standard]"
    "ray[serve]==2.*"
    aiohttp
    httpx
)

log() { echo "install-peers: $*"; }

# Runs a command with its output hidden, and shows that output if it fails.
quietly() {
    local output
    output="$(mktemp)"
    if ! "$@" >"$output" 2>&1; then
        cat "$output" >&2
        rm -f "$output"
        echo "install-peers: error: failed: $*" >&2
        return 1
    fi
    rm -f "$output"
}

# One install at a time: a second run waits here, then finds the stamps.
mkdir -p .cache
exec 9>.cache/bench-install.lock
flock 9

# Debian packages: the compiler and CMake for llama.cpp, `ip` and `unshare`
# for the network namespace, h2load for request rates.
missing=()
for package in "${apt_packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi
if ((${#missing[@]} > 0)); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "install-peers: error: Debian packages missing (${missing[*]}) and installing them needs root" >&2
        exit 1
    fi
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -x "$venv/bin/python" ]]; then
    log "creating $venv"
    python3 -m venv "$venv"
fi
pip=("$venv/bin/pip" install -q --disable-pip-version-check)

# The pure-Python peers first, so that they can be used while llama.cpp builds.
peers_stamp="$venv/.peers.sha256"
peers_wanted="$(printf '%s\n' "${peer_requirements[@]}" | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$peers_stamp" || "$(cat "$peers_stamp")" != "$peers_wanted" ]]; then
    log "installing ${peer_requirements[*]}"
    "${pip[@]}" --upgrade pip
    "${pip[@]}" "${peer_requirements[@]}"
    echo "$peers_wanted" >"$peers_stamp"
fi

# llama-cpp-python from its source package, unpacked under .cache/ so that
# the CMake build tree (kept in $llama_build) still has its sources when
# llama-server is added to it below. The last three flags undo what that
# step leaves in the CMake cache, should the wheel be built again.
llama_flags=(-DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
    -DLLAVA_BUILD=ON -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF)
llama_stamp="$venv/.llama-cpp-python.sha256"
llama_wanted="$(printf '%s\n' "$llama_version" "${llama_flags[@]}" | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$llama_stamp" || "$(cat "$llama_stamp")" != "$llama_wanted" ]]; then
    if [[ ! -f "$llama_src/pyproject.toml" ]]; then
        log "downloading the llama-cpp-python $llama_version source package"
        mkdir -p .cache/downloads
        "$venv/bin/pip" download -q --disable-pip-version-check --no-deps \
            --no-binary llama-cpp-python "llama-cpp-python==$llama_version" -d .cache/downloads
        rm -rf "$llama_src"
        mkdir -p "$llama_src"
        tar -xzf ".cache/downloads/llama_cpp_python-$llama_version.tar.gz" -C "$llama_src" --strip-components=1
    fi
    log "building llama-cpp-python $llama_version (about 25 minutes on 2 cores)"
    mkdir -p "$llama_build"
    CMAKE_ARGS="${llama_flags[*]}" \
        CMAKE_BUILD_PARALLEL_LEVEL="$jobs" MAKEFLAGS="-j$jobs" \
        "${pip[@]}" --config-settings=build-dir="$root/$llama_build" "$llama_src[server]"
    echo "$llama_wanted" >"$llama_stamp"
fi

# llama.cpp's C++ server: the same build tree, reconfigured with the tools,
# so only the server's own sources compile. llama.cpp's tools add the mtmd
# library themselves, and CMake rejects a second add_subdirectory of it into
# the same folder, so llama-cpp-python's own (LLAVA_BUILD) is switched off
# for this step and on again after it. The embedded web UI is left out
# because its assets would have to be downloaded.
server_binary="$llama_build/bin/llama-server"
bench_binary="$llama_build/bin/llama-bench"
if [[ ! -x "$server_binary" || ! -x "$bench_binary" ]]; then
    log "building llama-server and llama-bench in $llama_build"
    quietly cmake -S "$llama_src" -B "$llama_build" -Wno-dev \
        -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
        -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF
    quietly cmake --build "$llama_build" --target llama-server llama-bench -j "$jobs"
    quietly cmake -S "$llama_src" -B "$llama_build" -Wno-dev \
        -DLLAVA_BUILD=ON -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF
    for binary in "$server_binary" "$bench_binary"; do
        if [[ ! -x "$binary" ]]; then
            echo "install-peers: error: the build finished but $binary is missing" >&2
            exit 1
        fi
    done
    log "llama-server is at $server_binary"
fi
