"""The llama.cpp backend on the embedded model, for real."""

import pytest

from llmopt.errors import ContextLengthError
from llmopt.models.registry import get_model

pytestmark = pytest.mark.integration

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def llm():
    return get_model("default@llamacpp", cache=False)


def test_generates_text_and_usage(llm):
    gen = llm.chat(QUESTION, max_tokens=12)
    assert gen.text.strip() and gen.engine == "llamacpp" and gen.model == "llamacpp:smollm2-135m@f16"
    assert gen.prompt_tokens > 20 and 0 < gen.completion_tokens <= 12
    assert gen.latency_s > 0 and gen.compute_s > 0 and gen.cost_usd > 0 and gen.prefill_s is not None


def test_greedy_is_deterministic_and_stream_matches(llm):
    a = llm.chat(QUESTION, max_tokens=16)
    b = llm.chat(QUESTION, max_tokens=16)
    stream = llm.stream_chat(QUESTION, max_tokens=16)
    assert a.text == b.text == "".join(stream) == stream.result.text


def test_shared_prefix_is_reused(llm):
    prefix = "Documents: " + "The report covers revenue and margins. " * 20
    llm.generate(prefix + "Question: one?", max_tokens=1)
    second = llm.generate(prefix + "Question: two?", max_tokens=1)
    assert second.cached_prompt_tokens >= llm.count_tokens(prefix) - 2
    llm.reset_cache()
    assert llm.generate(prefix + "Question: two?", max_tokens=1).cached_prompt_tokens == 0


def test_sampling_seeds_and_logprobs(llm):
    a = llm.chat(QUESTION, max_tokens=12, temperature=1.0, seed=1, logprobs=True)
    b = llm.chat(QUESTION, max_tokens=12, temperature=1.0, seed=1, logprobs=True)
    assert a.text == b.text
    assert len(a.token_logprobs) == a.completion_tokens and all(lp <= 0 for lp in a.token_logprobs)


def test_stop_strings(llm):
    gen = llm.generate("1, 2, 3, 4, 5, 6,", max_tokens=30, stop=[" 9"])
    assert " 9" not in gen.text and gen.finish_reason == "stop"


def test_prompt_longer_than_context_names_both_numbers():
    small = get_model("llamacpp:smollm2-135m?n_ctx=256", cache=False)
    with pytest.raises(ContextLengthError) as info:
        small.generate("word " * 400, max_tokens=4)
    assert "256" in str(info.value) and "--truncate" in str(info.value)
    assert small.generate("word " * 400, max_tokens=4, truncate=True).prompt_tokens <= 256


def test_requantized_copy_is_made_once_and_records_quant(llmopt_home):
    llm = get_model("llamacpp:smollm2-135m?quant=q8_0", cache=False)
    assert llm.model_id == "llamacpp:smollm2-135m@q8_0" and llm.path.name.endswith(".Q8_0.gguf")
    assert llm.chat(QUESTION, max_tokens=4).completion_tokens > 0


def test_default_runs_an_f16_copy_and_shipped_runs_the_q4_1_file(llm):
    # the reason for the default (bench/RESULTS.md, "Engines"): the f16 copy answers like the fp32 reference
    assert llm.path.name.endswith(".F16.gguf")
    assert "Paris" in llm.chat(QUESTION, max_tokens=12).text
    shipped = get_model("llamacpp:smollm2-135m?quant=shipped", cache=False)
    assert shipped.model_id == "llamacpp:smollm2-135m" and shipped.path.name.endswith(".Q4_1.gguf")
    assert shipped.chat(QUESTION, max_tokens=4).completion_tokens > 0


LLAMA_LOG_MARKERS = ("llama_model_loader", "print_info", "load_tensors", "llama_model_quantize", "converting to f16",
                     "llama_context", "gguf")


def _generate_stderr(home, **env) -> str:
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "llmopt.cli.main", "generate", "hi", "--max-tokens", "2"],
                          env={**os.environ, "LLMOPT_HOME": str(home), **env}, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr


def test_llama_cpp_logs_stay_quiet_unless_llmopt_verbose(tmp_path):
    """A fresh home makes the f16 copy (llama.cpp's quantize logs a line per tensor) and loads it: nothing of
    llama.cpp's own log reaches stderr; LLMOPT_VERBOSE=1 lets it through."""
    home = tmp_path / "fresh-home"  # not the shared model cache: the f16 conversion runs here
    quiet = _generate_stderr(home, LLMOPT_VERBOSE="0")
    assert not [line for line in quiet.splitlines() if any(m in line for m in LLAMA_LOG_MARKERS)], quiet[:2000]
    assert "llama_model_loader" in _generate_stderr(home, LLMOPT_VERBOSE="1")
