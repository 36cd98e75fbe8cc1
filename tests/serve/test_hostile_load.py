"""A bounded load on a real server (127.0.0.1) while a model writes hostile SQL and slow clients trickle bytes:
other requests keep being answered, and every worker is free again soon after its request's limit (issue 21).

Bounded: 6 hostile requests, 3 slow clients for ~6 s, a handful of ordinary requests; about 15 s in all."""

import socket
import threading
import time

import httpx
import pytest

HOSTILE_SQL = [  # what the fake model "writes" after the SELECT pre-fill
    " printf('%.*c', 1000000000, 'x')",  # one C loop of ~13 s that never checks for an interrupt
    " trim(printf('%.*c', 500000, 'a'), printf('%.*c', 50000, 'b') || 'a')",  # minutes in one C call
    " count(*) FROM (WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT x FROM n)",
]
LIMIT_S = 3.0  # the server's per-request limit


@pytest.fixture
def bookshop(tmp_path):
    from llmopt.demo import write_demo_data

    write_demo_data(tmp_path, ["sql"])
    return tmp_path / "sql" / "database" / "bookshop" / "bookshop.sqlite"


def chat(url, model, content="How many authors are there?"):
    payload = {"model": model, "messages": [{"role": "user", "content": content}]}
    return httpx.post(f"{url}/v1/chat/completions", json=payload, timeout=60)


def slow_client(port: int, stop: threading.Event) -> None:
    """Opens a connection and sends a request's head one byte every 0.2 s, never finishing it."""
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for byte in head:
            if stop.is_set():
                return
            try:
                sock.sendall(bytes([byte]))
            except OSError:  # the server may drop a slow client: fine
                return
            time.sleep(0.2)


def queue(url) -> dict:
    return httpx.get(f"{url}/health", timeout=10).json()["queue"]


def test_hostile_sql_and_slow_clients_leave_the_server_answering(start, bookshop):
    before = bookshop.read_bytes()
    url = start(db=str(bookshop), limits={"max_concurrent": 3, "max_queue": 8, "timeout_s": LIMIT_S})
    port = int(url.rsplit(":", 1)[1])
    stop = threading.Event()
    slow = [threading.Thread(target=slow_client, args=(port, stop), daemon=True) for _ in range(3)]
    hostile_codes: list[int] = []

    def send_hostile(sqls):  # one after another: at most two slots hold hostile work at once
        for sql in sqls:
            hostile_codes.append(chat(url, f"sql-zero:repairs=0@fake:{sql}").status_code)

    senders = [threading.Thread(target=send_hostile, args=(HOSTILE_SQL,), daemon=True),
               threading.Thread(target=send_hostile, args=(HOSTILE_SQL[::-1],), daemon=True)]
    for thread in slow + senders:
        thread.start()
    ordinary = []
    while any(t.is_alive() for t in senders) and len(ordinary) < 40:
        reply = chat(url, "sql-zero@fake: count(*) FROM authors")
        ordinary.append((reply.status_code, reply.json().get("llmopt", {}).get("sql", {}).get("rows")))
        ordinary.append((chat(url, "rag-k5", "Where was Harbor Labs founded?").status_code, None))
    for thread in senders:
        thread.join(60)
    stop.set()
    assert not any(t.is_alive() for t in senders), "a hostile request did not return within 60 s"
    assert ordinary and all(code == 200 for code, _ in ordinary), ordinary
    assert all(rows in (None, [[12]]) for _, rows in ordinary)
    assert sorted(set(hostile_codes)) in ([200], [200, 504], [504]) and len(hostile_codes) == 6
    # every worker is free again soon after the last request's limit: the queue's counters return to 0
    deadline = time.monotonic() + LIMIT_S + 5
    while time.monotonic() < deadline and (queue(url)["active"] or queue(url)["waiting"]):
        time.sleep(0.1)
    state = queue(url)
    assert state["active"] == 0 and state["waiting"] == 0, state
    assert chat(url, "sql-zero@fake: count(*) FROM books").json()["llmopt"]["sql"]["rows"] == [[30]]
    assert bookshop.read_bytes() == before
    for thread in slow:
        thread.join(10)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 0.0, -5.0])
def test_a_bad_request_time_limit_is_refused_in_one_line(value, capsys):
    from llmopt.cli.main import main
    from llmopt.errors import ConfigError
    from llmopt.serve.config import make_config

    with pytest.raises(ConfigError, match="limits.timeout_s"):
        make_config(None, limits={"timeout_s": value})
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--timeout", str(value), "--check"])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 1 and "timeout_s" in err and len(err.splitlines()) == 1
