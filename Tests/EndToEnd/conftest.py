"""Fixtures that start a real `sluice serve` process on 127.0.0.1 for the end-to-end tests."""

import os
import pathlib
import socket
import subprocess
import time

import httpx
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("SLUICE_BINARY", str(ROOT / ".build" / "release" / "sluice"))
MODEL = os.environ.get("SLUICE_MODEL", str(ROOT / ".cache" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"))
REFERENCE_DIR = pathlib.Path(os.environ.get("SLUICE_REFERENCE_DIR", str(ROOT.parent / "shared" / "reference")))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A running `sluice serve` process and its base URL."""

    def __init__(self, *flags: str, ready_timeout: float = 120.0):
        if not os.path.exists(BINARY):
            raise RuntimeError(f"sluice binary not found at {BINARY}; build it with `make build` first")
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = ROOT / ".build" / f"e2e-server-{self.port}.log"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [BINARY, "serve", "--host", "127.0.0.1", "--port", str(self.port), *flags],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sluice exited with {self.process.returncode}; log: {self.log_path.read_text()}")
            try:
                if httpx.get(self.base_url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"sluice did not become ready in {ready_timeout} s; log: {self.log_path.read_text()}")

    def metrics(self) -> str:
        return httpx.get(self.base_url + "/metrics", timeout=5).text

    def metric(self, sample: str) -> float:
        """The value of the sample line that starts with `sample` (name plus labels)."""
        for line in self.metrics().splitlines():
            if line.startswith(sample + " "):
                return float(line.rsplit(" ", 1)[1])
        raise KeyError(sample)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def simulated():
    server = Server("--backend", "simulated", "--step-base", "1ms", "--step-per-seq", "0.01ms")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def engine():
    if not os.path.exists(MODEL):
        raise RuntimeError(f"model not found at {MODEL}; run scripts/bootstrap.sh to download it")
    server = Server("--model", MODEL, "--max-batch-size", "16")
    yield server
    server.stop()
