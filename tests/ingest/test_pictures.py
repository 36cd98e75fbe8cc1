import pytest

from llmopt.ingest.config import IngestConfig
from llmopt.ingest.document import Element
from llmopt.ingest.pictures import PictureDescriber, group_rows, label_values
from llmopt.testing import FakeLLM


def test_rows_are_read_top_to_bottom_left_to_right():
    boxes = [(50, 60, 200, "B"), (10, 20, 100, "title"), (52, 61, 10, "A"), (90, 100, 5, "last")]
    assert group_rows(boxes) == ["title", "A B", "last"]


def test_values_pair_with_the_labels_below_them():
    boxes = [(10, 20, 40, 80, "7,340"), (40, 50, 140, 180, "9,860"), (100, 110, 30, 90, "Nordics"),
             (100, 110, 130, 190, "Central Europe"), (5, 15, 0, 20, "12")]  # a stray number far away
    assert label_values(boxes) == [("Nordics", "7,340"), ("Central Europe", "9,860")]
    assert label_values(boxes[:3]) == []  # one pair alone may be chance


def test_vlm_describes_pictures_and_records_the_method():
    seen = []

    def reply(prompt, params):
        seen.append(prompt)
        return "A bar chart: Nordics 7,340 units."

    fake = FakeLLM(reply, name="vision")
    describer = PictureDescriber(IngestConfig(vlm="fake:vision"), vlm=fake)
    element = Element("picture", caption="Figure 2. Units.", image=b"\x89PNG fake", image_ext="png")
    describer.describe(element)
    assert element.text == "Figure 2. Units.\nDescription: A bar chart: Nordics 7,340 units."
    assert element.method == "vlm:vision+caption"
    assert "data:image/png;base64," in seen[0] and "Figure 2. Units." in seen[0]


def test_caption_mode_and_known_text_are_kept():
    describer = PictureDescriber(IngestConfig(pictures="caption"))
    element = Element("picture", caption="Logo", image=b"whatever")
    describer.describe(element)
    assert (element.text, element.method) == ("Logo", "caption")
    chart = Element("picture", text="Chart: data", method="pptx-chart-data")
    PictureDescriber(IngestConfig()).describe(chart)
    assert (chart.text, chart.method) == ("Chart: data", "pptx-chart-data")
    vector = Element("picture", caption="Figure 3.", image=b"png", meta={"text_layer": ["USER = ALICE"]})
    PictureDescriber(IngestConfig()).describe(vector)
    assert vector.text == "Figure 3.\nText in the picture: USER = ALICE" and vector.method == "pdf-text+caption"


@pytest.mark.integration
def test_ocr_reads_a_chart_including_which_value_belongs_to_which_bar():
    from llmopt.demo.corpus.charts import bar_chart

    png = bar_chart("Units shipped by region, 2024", ["Nordics", "Baltics", "Iberia"], [7340, 4215, 2975], "units")
    element = Element("picture", caption="Figure 2.", image=png)
    PictureDescriber(IngestConfig()).describe(element)
    assert element.method == "ocr+caption"
    assert "Units shipped by region, 2024" in element.text
    assert "Nordics: 7,340; Baltics: 4,215; Iberia: 2,975" in element.text


def test_vlm_over_an_openai_compatible_endpoint():
    """The real HTTP path: an OpenAI-style chat request with the picture as a data: URL."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            body = json.dumps({"id": "x", "object": "chat.completion", "model": "granite-vision", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "Bar chart: Nordics 7,340."},
                 "finish_reason": "stop"}], "usage": {"prompt_tokens": 90, "completion_tokens": 6}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        spec = f"openai:granite-vision@http://127.0.0.1:{server.server_port}/v1"
        element = Element("picture", caption="Figure 2.", image=b"\x89PNG bytes", image_ext="png")
        PictureDescriber(IngestConfig(vlm=spec, pictures="vlm")).describe(element)
    finally:
        server.shutdown()
    assert element.text == "Figure 2.\nDescription: Bar chart: Nordics 7,340." and element.method.startswith("vlm:")
    path, request = seen[0]
    assert path == "/v1/chat/completions" and request["model"] == "granite-vision"
    parts = request["messages"][0]["content"]
    assert parts[1]["type"] == "image_url" and parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
