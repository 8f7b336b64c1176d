"""The main job end to end: the built-in engine serving SmolLM2, through the official `openai` client."""

import json
import threading
import time

import httpx
import openai
import pytest

from conftest import REFERENCE_DIR

END_OF_TURN = "<|im_end|>"


def golden_chat_cases():
    path = REFERENCE_DIR / "smollm2-golden.json"
    if not path.exists():
        raise RuntimeError(f"reference data not found at {path}; set SLUICE_REFERENCE_DIR")
    cases = json.loads(path.read_text())["greedy"]
    return [case for case in cases if case.get("messages") and case["clear_steps"] > 0]


@pytest.mark.parametrize("case", golden_chat_cases(), ids=lambda case: case["messages"][-1]["content"][:30])
def test_streamed_chat_starts_with_reference_text(engine, case):
    client = openai.OpenAI(base_url=engine.base_url + "/v1", api_key="unused", max_retries=0)
    model = client.models.list().data[0].id
    stream = client.chat.completions.create(
        model=model, messages=case["messages"], temperature=0, max_tokens=case["clear_steps"], stream=True
    )
    answer = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    expected = case["clear_text"]
    if expected.endswith(END_OF_TURN):
        expected = expected[: -len(END_OF_TURN)]
    assert answer.startswith(expected), f"answer {answer!r} does not start with {expected!r}"


def test_cancelled_stream_leaves_the_engine_batch(engine):
    client = openai.OpenAI(base_url=engine.base_url + "/v1", api_key="unused", max_retries=0)
    model = client.models.list().data[0].id
    sizes = []
    stop_watching = threading.Event()

    def watch_batch():
        while not stop_watching.is_set():
            sizes.append(engine.metric('sluice_batch_size{worker="engine-0"}'))
            time.sleep(0.02)

    finished = {}

    def long_stream():
        stream = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "Tell me a long story about a dragon."}],
            max_tokens=200,
            temperature=0,
            stream=True,
            extra_body={"ignore_eos": True},
        )
        finished["tokens"] = sum(1 for chunk in stream if chunk.choices and chunk.choices[0].delta.content)

    watcher = threading.Thread(target=watch_batch)
    watcher.start()
    survivor = threading.Thread(target=long_stream)
    survivor.start()

    cancelled_before = engine.metric('sluice_cancellations_total{reason="client_disconnected"}')
    with httpx.stream(
        "POST",
        engine.base_url + "/v1/chat/completions",
        json={
            "model": model,
            "messages": [{"role": "user", "content": "Count from one to one hundred."}],
            "max_tokens": 200,
            "stream": True,
            "ignore_eos": True,
        },
        timeout=60,
    ) as response:
        for index, _ in enumerate(response.iter_lines()):
            if index > 10:
                break  # Leaving the block closes the connection midway.

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if engine.metric('sluice_cancellations_total{reason="client_disconnected"}') > cancelled_before:
            break
        time.sleep(0.02)
    assert engine.metric('sluice_cancellations_total{reason="client_disconnected"}') == cancelled_before + 1

    # The batch held both streams, then shrank to one while the survivor went on.
    shrank = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not shrank:
        shrank = 2 in sizes and sizes[-1] == 1
        time.sleep(0.05)
    survivor.join(timeout=120)
    stop_watching.set()
    watcher.join()
    assert 2 in sizes, f"batch sizes seen: {sorted(set(sizes))}"
    assert shrank, f"batch sizes seen: {sizes[-20:]}"
    assert finished.get("tokens", 0) > 0
