"""The API over a real uvicorn server on 127.0.0.1: the official openai client (plain and streaming), raw HTTP
for errors, auth, limits, the queue, pictures and reports. The fake backend and an in-memory retriever keep
these fast; test_integration.py runs the real index and model."""

import json
import sqlite3
import threading
import time

import httpx
import openai
import pytest

QUESTION = "Where was Harbor Labs founded?"


def chat(url, model="rag-k5", content=QUESTION, headers=None, **body):
    payload = {"model": model, "messages": [{"role": "user", "content": content}], **body}
    return httpx.post(f"{url}/v1/chat/completions", json=payload, headers=headers, timeout=30)


def assert_clean(response):
    """An OpenAI-shaped error with no traceback and no server path."""
    text = response.text
    error = response.json()["error"]
    assert error["message"] and error["type"]
    assert "Traceback" not in text and 'File "' not in text and "/data/secret" not in text and "/tmp/" not in text
    return error


def test_openai_client_gets_the_answer_citations_and_usage(start):
    url = start()
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
    assert [m.id for m in client.models.list()] == ["none", "rag-k5", "rag-k5-sc5", "iterdrag-n3"]
    reply = client.chat.completions.create(model="rag-k5", messages=[{"role": "user", "content": QUESTION}],
                                           max_tokens=16)
    message = reply.choices[0].message
    assert message.content == "Lisbon" and reply.choices[0].finish_reason == "stop"
    citations = message.model_extra["citations"]
    assert citations[0]["chunk_id"] == "c1" and citations[0]["supports"] is True
    assert {"source", "page", "type", "text", "image_url"} <= set(citations[0])
    assert reply.usage.prompt_tokens > 0 and reply.usage.total_tokens == reply.usage.prompt_tokens + 1
    assert reply.usage.model_extra["calls"] == 1
    assert reply.model_extra["llmopt"]["strategy"] == "rag" and reply.model_extra["llmopt"]["params"]["k"] == 5


def test_usage_counts_every_internal_call(start):
    url = start()
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
    reply = client.chat.completions.create(model="rag:k=2,samples=3", messages=[{"role": "user", "content": QUESTION}])
    usage = reply.usage.model_extra
    assert usage["calls"] == 3 and usage["effective_context_tokens"] == reply.usage.prompt_tokens
    assert reply.usage.completion_tokens == 3 and len(reply.choices[0].message.model_extra["citations"]) == 2


def test_openai_client_streams_chunks_then_citations_and_usage(start):
    url = start()
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
    stream = client.chat.completions.create(model="rag-k5@fake:echo", messages=[{"role": "user", "content": QUESTION}],
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert text.strip() and len(finals) == 1 and finals[0].choices[0].finish_reason == "stop"
    assert finals[0].choices[0].delta.model_extra["citations"][0]["chunk_id"]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].usage.prompt_tokens > 0 and chunks[-1].choices == []


def test_errors_are_clear_4xx_without_internals(start):
    url = start(limits={"max_tokens": 64, "max_input_tokens": 20})
    cases = [
        (chat(url, model="gpt-4"), 404, "rag-k5"),
        (httpx.post(f"{url}/v1/chat/completions", json={"model": "rag-k5", "messages": []}), 400, "empty"),
        (chat(url, content="   "), 400, "empty"),
        (chat(url, max_tokens=65), 400, "limit of 64"),
        (chat(url, content="word " * 30), 400, "limit of 20"),
        (chat(url, n=3), 400, "samples"),
        (httpx.post(f"{url}/v1/chat/completions", content=b"{oops", headers={"content-type": "application/json"}),
         400, "not valid JSON"),
        (httpx.post(f"{url}/v1/chat/completions", json={"model": "rag-k5"}), 400, "messages"),
        (httpx.post(f"{url}/v1/chat/completions", json={"model": "rag-k5", "messages": [
            {"role": "user", "content": QUESTION}, {"role": "assistant", "content": "?"}]}), 400, "end with"),
        (chat(url, model="rag:k=999"), 400, "limit of 50"),
        (chat(url, model="rag-k5@openai:x@http://169.254.169.254/v1"), 403, "not allowed"),
    ]
    for response, status, fragment in cases:
        assert response.status_code == status, response.text
        assert fragment in assert_clean(response)["message"]
    assert chat(url, content="word " * 30).json()["error"]["code"] == "context_length_exceeded"


def test_bodies_over_the_limit_are_413_with_or_without_content_length(start):
    url = start(limits={"max_body_bytes": 2048})
    big = chat(url, content="x" * 5000)
    assert big.status_code == 413 and assert_clean(big)["code"] == "body_too_large"

    def chunked():
        yield b'{"model": "rag-k5", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"y" * 500
        yield b'"}]}'

    response = httpx.post(f"{url}/v1/chat/completions", content=chunked(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_failures_inside_a_pipeline_hide_paths_and_tracebacks(start, memory_retriever):
    url = start(retriever=memory_retriever(fail=RuntimeError("disk error at /data/secret/index/store.db")))
    response = chat(url)
    assert response.status_code == 500 and "internal error" in assert_clean(response)["message"]
    stream = httpx.post(f"{url}/v1/chat/completions", timeout=30, json={
        "model": "rag-k5", "stream": True, "messages": [{"role": "user", "content": QUESTION}]})
    events = [line[6:] for line in stream.text.splitlines() if line.startswith("data: ")]
    assert json.loads(events[-2])["error"]["code"] == "internal_error" and events[-1] == "[DONE]"
    assert "/data/secret" not in stream.text


def test_the_api_key_guards_the_api_but_not_health_or_the_page(start):
    url = start(api_key="s3cret-key-for-tests")
    assert httpx.get(f"{url}/health").status_code == 200
    assert httpx.get(f"{url}/").status_code == 200 and "llmopt" in httpx.get(f"{url}/").text
    for path in ("/v1/models", "/api/reports", "/api/info"):
        assert httpx.get(f"{url}{path}").status_code == 401
    wrong = httpx.get(f"{url}/v1/models", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert chat(url).status_code == 401
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{url}/v1", api_key="nope").models.list()
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="s3cret-key-for-tests")
    assert client.chat.completions.create(model="rag-k5", messages=[{"role": "user", "content": QUESTION}]).choices


def test_a_full_queue_answers_429_and_the_admitted_requests_finish(start, gate):
    url = start(model=gate.spec, limits={"max_concurrent": 1, "max_queue": 1})
    results = {}

    def send(name):
        results[name] = chat(url)

    threads = [threading.Thread(target=send, args=(n,)) for n in ("first", "second")]
    threads[0].start()
    assert gate.entered.acquire(timeout=20)  # the first request holds the only slot
    threads[1].start()
    for _ in range(500):
        if httpx.get(f"{url}/health").json()["queue"]["waiting"] == 1:
            break
        time.sleep(0.01)
    rejected = chat(url)
    assert rejected.status_code == 429 and rejected.headers["retry-after"]
    assert assert_clean(rejected)["type"] == "rate_limit_error"
    gate.event.set()
    for t in threads:
        t.join(timeout=30)
    assert results["first"].status_code == results["second"].status_code == 200
    queue = httpx.get(f"{url}/health").json()["queue"]
    assert (queue["answered"], queue["rejected"], queue["active"], queue["waiting"]) == (2, 1, 0, 0)


def test_a_request_past_the_timeout_gets_504(start, gate):
    url = start(model=gate.spec, limits={"timeout_s": 0.5})
    response = chat(url)
    assert response.status_code == 504 and assert_clean(response)["code"] == "timeout"
    gate.event.set()


def test_pictures_are_served_from_the_index_images_folder_only(start, tmp_path, memory_retriever):
    images = tmp_path / "images"
    images.mkdir()
    picture = images / "0123456789abcdef0123.png"
    picture.write_bytes(b"\x89PNG picture")
    (tmp_path / "secret.png").write_bytes(b"secret")
    retriever = memory_retriever(image_path=str(picture))
    retriever.images_dir = images
    url = start(retriever=retriever)
    reply = chat(url, content="Chart of Harbor Labs revenue by year").json()
    picture_citation = next(c for c in reply["choices"][0]["message"]["citations"] if c["type"] == "picture")
    assert picture_citation["image_url"] == "/api/images/0123456789abcdef0123.png"
    assert httpx.get(f"{url}{picture_citation['image_url']}").content == b"\x89PNG picture"
    for name in ("..%2Fsecret.png", "secret.png", "%2E%2E%2Fsecret.png"):
        assert httpx.get(f"{url}/api/images/{name}").status_code == 404


def test_reports_are_listed_and_their_plots_served(start, tmp_path):
    from llmopt.report import Section, write_report

    plot = tmp_path / "reports" / "plot.png"
    plot.parent.mkdir()
    plot.write_bytes(b"\x89PNG plot")
    write_report(plot.parent, "lab", [Section("ask", plots=[("acc", plot)])])
    url = start(reports=[str(tmp_path / "reports")], default_reports=False)  # not ./lab-report of the checkout
    items = httpx.get(f"{url}/api/reports").json()["reports"]
    assert [i["title"] for i in items] == ["lab"]
    report = httpx.get(f"{url}/api/reports/{items[0]['id']}").json()
    assert report["sections"][0]["plots"] == [["acc", "plot.png"]]
    assert httpx.get(f"{url}/api/reports/{items[0]['id']}/files/plot.png").content == b"\x89PNG plot"
    assert httpx.get(f"{url}/api/reports/{items[0]['id']}/files/..%2F..%2Fetc%2Fpasswd").status_code == 404


@pytest.fixture
def bookshop(tmp_path):
    from llmopt.demo import write_demo_data

    write_demo_data(tmp_path, ["sql"])
    return tmp_path / "sql" / "database" / "bookshop" / "bookshop.sqlite"


def test_the_sql_preset_answers_with_rows(start, bookshop):
    url = start(db=str(bookshop))
    ids = [m["id"] for m in httpx.get(f"{url}/v1/models").json()["data"]]
    assert "sql-fewshot-sc" in ids and "sql-zero" in ids
    reply = chat(url, model="sql-zero@fake:count(*) FROM authors", content="How many authors are there?").json()
    sql = reply["llmopt"]["sql"]
    assert sql["query"] == "SELECT count(*) FROM authors" and sql["error"] is None and sql["rows"][0][0] > 0
    assert "```sql" in reply["choices"][0]["message"]["content"] and reply["usage"]["calls"] == 1


@pytest.mark.parametrize("statement", ["DELETE FROM authors", "DROP TABLE books", "UPDATE books SET price = 0",
                                       "ATTACH DATABASE 'x.db' AS x"])
def test_the_sql_preset_never_writes(start, bookshop, statement):
    before = bookshop.read_bytes()
    url = start(db=str(bookshop))
    reply = chat(url, model=f"sql-zero:repairs=0@fake:{statement}", content="Remove every author").json()
    assert reply["llmopt"]["sql"]["error"] and reply["llmopt"]["sql"]["rows"] == []
    assert bookshop.read_bytes() == before
    with sqlite3.connect(bookshop) as conn:
        assert conn.execute("SELECT count(*) FROM authors").fetchone()[0] > 0


def test_a_streaming_client_that_leaves_the_queue_frees_its_place(start, gate):
    url = start(model=gate.spec, limits={"max_concurrent": 1, "max_queue": 1})
    holder = threading.Thread(target=chat, args=(url,))
    holder.start()
    assert gate.entered.acquire(timeout=20)
    payload = {"model": "rag-k5", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=payload, timeout=30) as stream:
        lines = stream.iter_lines()  # kept: dropping the iterator would close the connection here
        assert json.loads(next(lines)[6:])["choices"][0]["delta"]["role"] == "assistant"
        assert httpx.get(f"{url}/health").json()["queue"]["waiting"] == 1
        assert chat(url).status_code == 429  # one answering, one waiting: full
    for _ in range(500):  # the server notices the disconnect and gives the place back
        if httpx.get(f"{url}/health").json()["queue"]["waiting"] == 0:
            break
        time.sleep(0.01)
    assert httpx.get(f"{url}/health").json()["queue"]["waiting"] == 0
    gate.event.set()
    holder.join(timeout=30)
    queue = httpx.get(f"{url}/health").json()["queue"]
    assert (queue["active"], queue["waiting"], queue["answered"]) == (0, 0, 1)


def test_sampling_settings_in_the_model_name_reach_the_model(start, monkeypatch):
    """`rag:temperature=...,seed=...` must not be overwritten by a request that leaves them out."""
    from llmopt.models import fake, registry

    seen = []
    monkeypatch.setitem(fake.SCRIPTS, "recorder", lambda prompt, params: seen.append(params) or "Lisbon")
    url = start()
    try:
        assert chat(url, model="rag:k=2,temperature=0.5,seed=7@fake:recorder").status_code == 200
        assert (seen[-1].temperature, seen[-1].seed) == (0.5, 7)
        assert chat(url, model="rag:k=2,temperature=0.5,seed=7@fake:recorder", temperature=0.2,
                    seed=3).status_code == 200  # the request's own values win
        assert (seen[-1].temperature, seen[-1].seed) == (0.2, 3)
    finally:
        registry._loaded.pop("fake:recorder@None?[]", None)
