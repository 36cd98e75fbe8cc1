"""The server end to end on 127.0.0.1 over a real index (the demo corpus, ingested) and the embedded model: the
official openai client, plain and streaming, the SQL preset on a real database, and the web page in headless
Chromium. Small settings (k=2, a few answer tokens): these check the plumbing, not accuracy."""

import json
import os
from pathlib import Path

import openai
import pytest

pytestmark = pytest.mark.integration

QUESTION = "Who is the chief financial officer of Veltora Dynamics?"
CHART_QUESTION = "Who is the chief executive in the Veltora Dynamics leadership chart?"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,1000"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from llmopt.demo import write_demo_data
    from llmopt.demo.qa import TEXT_DOCUMENTS
    from llmopt.ingest import ingest
    from llmopt.report import Section, write_report

    root = tmp_path_factory.mktemp("serve")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LLMOPT_HOME", str(root / "home"))
        write_demo_data(root, ["corpus", "qa", "sql"])
        # the text documents (quick) and one picture, so that a citation can show its image
        files = [root / "corpus" / name for name in TEXT_DOCUMENTS + ("org_chart.png",)]
        report = ingest(files, index=str(root / "index"))
        assert report.summary()["failed"] == 0
    plot = root / "reports" / "lab" / "plot.png"
    plot.parent.mkdir(parents=True)
    _png(plot)
    write_report(plot.parent, "demo lab report", [Section("ask", "two strategies", plots=[("accuracy", plot)])])
    return root


def _png(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.bar(["rag", "drag"], [0.4, 0.5])
    fig.savefig(path)
    plt.close(fig)


@pytest.fixture(scope="module")
def server(demo):
    from llmopt.serve import create_app, running

    db = demo / "sql" / "database" / "bookshop" / "bookshop.sqlite"
    app = create_app(index=str(demo / "index"), demos=str(demo / "qa" / "demos.jsonl"), db=str(db),
                     reports=[str(demo / "reports")], default_reports=False, limits={"max_tokens": 64},
                     presets={"rag-k2": {"strategy": "rag", "k": 2}})
    with running(app) as url:
        yield {"url": url, "db": db}


def test_openai_client_answers_over_the_real_index(server):
    client = openai.OpenAI(base_url=f"{server['url']}/v1", api_key="unused")
    names = [m.id for m in client.models.list()]
    assert {"rag-k5", "drag-k5-m4", "iterdrag-n3", "sql-fewshot-sc", "rag-k2"} <= set(names)
    reply = client.chat.completions.create(model="rag-k2", messages=[{"role": "user", "content": QUESTION}],
                                           max_tokens=8)
    citations = reply.choices[0].message.model_extra["citations"]
    assert reply.choices[0].message.content.strip()
    assert len(citations) == 2 and all(c["source"].endswith((".md", ".html", ".txt", ".png")) for c in citations)
    assert reply.usage.prompt_tokens > 50 and reply.usage.model_extra["cost_usd"] > 0
    assert reply.model_extra["llmopt"]["engine_model"].startswith("llamacpp:")


def test_a_picture_citation_links_to_its_image(server):
    import httpx

    client = openai.OpenAI(base_url=f"{server['url']}/v1", api_key="unused")
    reply = client.chat.completions.create(model="rag-k2", messages=[{"role": "user", "content": CHART_QUESTION}],
                                           max_tokens=8)
    pictures = [c for c in reply.choices[0].message.model_extra["citations"] if c["type"] == "picture"]
    assert pictures and pictures[0]["image_url"].startswith("/api/images/")
    image = httpx.get(server["url"] + pictures[0]["image_url"])
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")


def test_openai_client_streams_a_drag_answer(server):
    client = openai.OpenAI(base_url=f"{server['url']}/v1", api_key="unused")
    stream = client.chat.completions.create(model="drag-k5-m4:k=2,m=1", stream=True, max_tokens=8,
                                            messages=[{"role": "user", "content": QUESTION}],
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    final = next(c for c in chunks if c.choices and c.choices[0].finish_reason)
    assert text.strip() and final.choices[0].delta.model_extra["citations"]
    assert chunks[-1].usage.prompt_tokens > 100  # a demonstration with its documents, and the question's


def test_sql_preset_runs_a_real_model_read_only(server):
    before = server["db"].read_bytes()
    client = openai.OpenAI(base_url=f"{server['url']}/v1", api_key="unused")
    reply = client.chat.completions.create(model="sql-fewshot-sc:samples=2,shots=2,repairs=0", max_tokens=32,
                                           messages=[{"role": "user", "content": "How many authors are there?"}])
    sql = reply.model_extra["llmopt"]["sql"]
    assert sql["query"] and sql["candidates"] == 2 and reply.usage.model_extra["calls"] == 3  # preliminary + 2
    assert server["db"].read_bytes() == before


def _chrome(tmp_path):
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("headless Chromium is not installed: run `make install` as root on Debian, or "
                    "apt-get install chromium chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (dev extra)")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def test_the_web_page_asks_shows_citations_and_renders_a_report(server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = _chrome(tmp_path)
    try:
        driver.get(server["url"] + "/")
        wait = WebDriverWait(driver, 180)
        wait.until(lambda d: len(Select(d.find_element(By.ID, "model")).options) > 0)
        Select(driver.find_element(By.ID, "model")).select_by_value("rag-k2")
        driver.find_element(By.ID, "max-tokens").clear()
        driver.find_element(By.ID, "max-tokens").send_keys("8")
        driver.find_element(By.ID, "question").send_keys(CHART_QUESTION)
        driver.find_element(By.ID, "ask-button").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#citations li") and
                   d.find_element(By.ID, "usage").text)
        answer = driver.find_element(By.ID, "answer").text
        citations = driver.find_elements(By.CSS_SELECTOR, "#citations li")
        assert answer.strip() and "[1]" in answer and len(citations) == 2
        assert "call(s)" in driver.find_element(By.ID, "usage").text and "$" in driver.find_element(By.ID, "usage").text
        for citation in citations:  # clicking a citation opens its source, page, text (and picture)
            citation.find_element(By.CSS_SELECTOR, ".citation-head").click()
            body = citation.find_element(By.CSS_SELECTOR, ".citation-body")
            assert body.is_displayed() and "source:" in body.text
        picture = next(c for c in citations if "picture" in c.text)  # the org chart: its image is shown
        wait.until(lambda d: picture.find_elements(By.CSS_SELECTOR, "img[src^='blob:']"))
        image = picture.find_element(By.CSS_SELECTOR, "img")
        assert image.is_displayed() and driver.execute_script("return arguments[0].naturalWidth", image) > 0
        driver.save_screenshot(str(tmp_path / "ask.png"))

        driver.find_element(By.ID, "tab-reports").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#report-list a"))
        driver.find_element(By.CSS_SELECTOR, "#report-list a").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#report figure img[src^='blob:']"))
        image = driver.find_element(By.CSS_SELECTOR, "#report figure img")
        assert driver.execute_script("return arguments[0].naturalWidth", image) > 0  # the plot decoded
        assert "demo lab report" in driver.find_element(By.ID, "report").text
        driver.save_screenshot(str(tmp_path / "reports.png"))
        logs = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not logs, json.dumps(logs)
    finally:
        driver.quit()
    assert (tmp_path / "ask.png").stat().st_size > 10_000
