"""The OpenAI-compatible API through the official `openai` client, against the simulated accelerator."""

import json
import threading

import httpx
import openai
import pytest


def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key="unused", max_retries=0)


WORDS = " the quick brown fox jumps over a lazy dog and runs far away into green hills"


def test_completion_not_streamed(simulated):
    result = client(simulated).completions.create(model="simulated", prompt="hello", max_tokens=4)
    assert result.object == "text_completion"
    assert result.choices[0].text == " the quick brown fox"
    assert result.choices[0].finish_reason == "length"
    assert result.usage.prompt_tokens == 1
    assert result.usage.completion_tokens == 4
    assert result.usage.total_tokens == 5


def test_completion_streamed_with_usage(simulated):
    stream = client(simulated).completions.create(
        model="simulated", prompt="hello world", max_tokens=6, stream=True, stream_options={"include_usage": True}
    )
    texts, reasons, usage = [], [], None
    for chunk in stream:
        if chunk.choices:
            texts.append(chunk.choices[0].text)
            reasons.append(chunk.choices[0].finish_reason)
        if chunk.usage is not None:
            usage = chunk.usage
    assert "".join(texts) == " the quick brown fox jumps over"
    assert reasons[-1] == "length"
    assert usage.prompt_tokens == 2
    assert usage.completion_tokens == 6


def test_chat_not_streamed(simulated):
    result = client(simulated).chat.completions.create(
        model="simulated", messages=[{"role": "user", "content": "hi"}], max_tokens=3
    )
    assert result.object == "chat.completion"
    assert result.choices[0].message.role == "assistant"
    assert result.choices[0].message.content == " the quick brown"
    assert result.usage.completion_tokens == 3


def test_chat_streamed(simulated):
    stream = client(simulated).chat.completions.create(
        model="simulated", messages=[{"role": "user", "content": "hi"}], max_completion_tokens=5, stream=True
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    content = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert content == " the quick brown fox jumps"
    assert chunks[-1].choices[0].finish_reason == "length"


def test_stop_sequence_ends_text_before_it(simulated):
    result = client(simulated).completions.create(model="simulated", prompt="x", max_tokens=10, stop=[" fox"])
    assert result.choices[0].text == " the quick brown"
    assert result.choices[0].finish_reason == "stop"


def test_models_list(simulated):
    models = client(simulated).models.list()
    assert [model.id for model in models.data] == ["simulated"]


def test_unknown_model_is_404(simulated):
    with pytest.raises(openai.NotFoundError) as caught:
        client(simulated).completions.create(model="gpt-9", prompt="x", max_tokens=1)
    assert caught.value.body["code"] == "model_not_found"
    assert caught.value.body["param"] == "model"


@pytest.mark.parametrize(
    "body,param",
    [
        ({"model": "simulated", "max_tokens": 1}, "prompt"),
        ({"model": "simulated", "prompt": 5}, "prompt"),
        ({"model": "simulated", "prompt": "x", "max_tokens": "ten"}, "max_tokens"),
        ({"model": "simulated", "prompt": "x", "max_tokens": 0}, "max_tokens"),
        ({"model": "simulated", "prompt": "x", "temperature": 3}, "temperature"),
        ({"model": "simulated", "prompt": "x", "top_p": 1.5}, "top_p"),
        ({"model": "simulated", "prompt": "x", "n": 2}, "n"),
        ({"model": "simulated", "prompt": "x", "stop": [1]}, "stop"),
        ({"prompt": "x"}, "model"),
    ],
)
def test_bad_field_names_the_field(simulated, body, param):
    response = httpx.post(simulated.base_url + "/v1/completions", json=body, timeout=10)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert param in error["message"]


def test_bad_chat_message_names_the_field(simulated):
    response = httpx.post(
        simulated.base_url + "/v1/chat/completions",
        json={"model": "simulated", "messages": [{"role": "wizard", "content": "x"}]},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "messages[0].role"


def test_body_not_json(simulated):
    response = httpx.post(
        simulated.base_url + "/v1/completions",
        content=b'{"model": "simulated", "prompt": ',
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_body"
    assert "not valid JSON" in error["message"]


def test_openai_client_raises_on_bad_request(simulated):
    with pytest.raises(openai.BadRequestError):
        client(simulated).completions.create(model="simulated", prompt="x", max_tokens=-1)


def test_native_generate_streams_ndjson(simulated):
    with httpx.stream(
        "POST", simulated.base_url + "/v1/generate", json={"model": "simulated", "prompt": "a b", "max_tokens": 3}
    ) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert [line.get("text") for line in lines[:-1]] == [" the", " quick", " brown"]
    assert lines[-1]["done"] is True
    assert lines[-1]["finish_reason"] == "length"
    assert lines[-1]["usage"]["completion_tokens"] == 3


def test_metrics_exposes_scheduler_figures(simulated):
    client(simulated).completions.create(model="simulated", prompt="hello", max_tokens=2)
    text = simulated.metrics()
    for name in [
        "sluice_http_requests_total",
        "sluice_queue_length",
        "sluice_batch_size",
        "sluice_queue_time_seconds_bucket",
        "sluice_time_to_first_token_seconds_bucket",
        "sluice_inter_token_latency_seconds_bucket",
        "sluice_generated_tokens_total",
        "sluice_cancellations_total",
        "sluice_rejections_total",
        "sluice_worker_step_seconds_bucket",
    ]:
        assert name in text, name
    assert 'sluice_http_requests_total{route="/v1/completions",status="200"}' in text


def test_full_queue_gets_429_with_retry_after():
    from conftest import Server

    server = Server("--backend", "simulated", "--step-base", "50ms", "--max-batch-size", "1", "--max-queue", "1")
    try:
        results = []

        def stream_one():
            with httpx.stream(
                "POST",
                server.base_url + "/v1/completions",
                json={"model": "simulated", "prompt": "x", "max_tokens": 20, "stream": True},
                timeout=30,
            ) as response:
                results.append(response.status_code)
                for _ in response.iter_bytes():
                    pass

        threads = [threading.Thread(target=stream_one) for _ in range(2)]
        for thread in threads:
            thread.start()
        # Wait until one stream runs and one waits in the queue.
        for _ in range(200):
            if server.metric("sluice_queue_length") == 1:
                break
            threading.Event().wait(0.01)
        response = httpx.post(
            server.base_url + "/v1/completions", json={"model": "simulated", "prompt": "x", "max_tokens": 1}, timeout=10
        )
        assert response.status_code == 429
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"]["code"] == "queue_full"
        for thread in threads:
            thread.join()
        assert results == [200, 200]
    finally:
        server.stop()


def test_disconnect_cancels_the_request():
    from conftest import Server

    server = Server("--backend", "simulated", "--step-base", "5ms")
    try:
        with httpx.stream(
            "POST",
            server.base_url + "/v1/completions",
            json={"model": "simulated", "prompt": "x", "max_tokens": 2000, "stream": True},
            timeout=30,
        ) as response:
            for index, _ in enumerate(response.iter_lines()):
                if index > 6:
                    break
        for _ in range(300):
            if server.metric('sluice_cancellations_total{reason="client_disconnected"}') == 1:
                break
            threading.Event().wait(0.01)
        assert server.metric('sluice_cancellations_total{reason="client_disconnected"}') == 1
        for _ in range(300):
            if server.metric('sluice_batch_size{worker="simulated-0"}') == 0:
                break
            threading.Event().wait(0.01)
        assert server.metric('sluice_batch_size{worker="simulated-0"}') == 0
        assert server.metric("sluice_discarded_tokens_total") <= 1
    finally:
        server.stop()
