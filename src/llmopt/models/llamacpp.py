"""GGUF models through llama-cpp-python.

The decode loop is llmopt's own (prompt evaluation, then one token at a time) so that every call reports what
users compare: prompt tokens reused from the key/value cache (`cached_prompt_tokens`), prefill seconds, token
logprobs without `logits_all` (which would slow prefill), and stop strings. The engine's `Llama` object is
`.llama`; restoring a saved state (`llama.load_state`) before a call makes that call reuse the restored prefix,
which is how prefix caches across interleaved prompts plug in.

Options: ?quant=q8_0 (re-quantize once, cached under LLMOPT_HOME/models/quant/), &n_ctx=8192, &n_threads=2,
&parallel=8 (sequences decoded together, continuous batching: llamacpp_batch.py; default 1, one at a time),
&n_batch=512 (prompt tokens per llama_decode).
A pack may name the quantization llama.cpp runs it from by default (the embedded SmolLM2 runs from an f16 copy
of its Q4_1 file: see bench/RESULTS.md, "Engines"); ?quant=shipped runs the shipped file as it is.

llama.cpp logs every key it loads and every tensor it converts; those lines stay off the terminal (its errors
excepted) unless LLMOPT_VERBOSE=1.
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BackendError, ModelSpecError
from ..paths import models_dir
from ..types import Generation
from .base import LLM, GenParams, Message, Prepare, common_prefix_length
from .llamacpp_batch import Request, collect, first_stop, read_logits
from .packs import PACKS, check_gguf_header, resolve_gguf
from .spec import ModelSpec

DEFAULT_N_CTX = 8192
# sequences per decode step. 1 (one call at a time) by default: on the 2-core AVX2 machine the workloads
# gained only 5-16% at 8 (prefill-bound RAG, Q4_K_M kernels that do not batch), batched answers are not
# bit-reproducible, and interleaved questions lose the staging context's prefix reuse; f16 decoding gains 2.5x
# (bench/RESULTS.md, "batching"), so ?parallel=8 is one option away.
DEFAULT_PARALLEL = 1


def engine_logs() -> bool:
    """Whether llama.cpp's own log lines may reach stderr (LLMOPT_VERBOSE=1), applied to llama-cpp-python's log
    callback: call before anything that makes llama.cpp log (quantize, load). Default: errors only."""
    verbose = os.environ.get("LLMOPT_VERBOSE", "").strip().lower() not in ("", "0", "false", "no")
    from llama_cpp._logger import set_verbose  # importing it installs the callback that honours the level

    set_verbose(verbose)
    return verbose


def requantized(path: Path, quant: str) -> Path:
    """A copy of a GGUF re-quantized with llama.cpp's quantize API, made once and cached."""
    import llama_cpp

    name = quant.upper()
    ftype = llama_cpp.LLAMA_FTYPE_ALL_F32 if name == "F32" else getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{name}", None)
    if ftype is None:
        raise ModelSpecError(f"unknown quantization '{quant}'; use e.g. q8_0, q4_0, q4_k_m, f16")
    target = models_dir() / "quant" / f"{path.stem}.{name}.gguf"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = True
    params.nthread = os.cpu_count() or 1
    engine_logs()  # the conversion logs a line per tensor
    if llama_cpp.llama_model_quantize(str(path).encode(), str(tmp).encode(), ctypes.byref(params)) != 0:
        tmp.unlink(missing_ok=True)
        raise BackendError(f"llama.cpp could not quantize {path} to {name}")
    os.replace(tmp, target)
    return target


class LlamaCppState:
    """llama.cpp's key/value cells of sequence 0 (not the logits, which are recomputed from the last token), with
    the token ids they hold: what a prefix cache saves and restores."""

    def __init__(self, llm: "LlamaCppLLM"):
        self.llama = llm.llama

    def held_tokens(self) -> Sequence[int]:
        return self.llama.input_ids[: self.llama.n_tokens].tolist()

    def prefill(self, tokens: Sequence[int]) -> None:
        held = common_prefix_length(self.held_tokens(), tokens)
        self.llama.n_tokens = held
        self.llama._ctx.kv_cache_seq_rm(0, held, -1)
        if held < len(tokens):
            self.llama.eval(list(tokens[held:]))
        self.llama._requires_eval = True  # the logits are not those of `tokens`' last position

    def save(self) -> tuple[Any, int]:
        import llama_cpp

        ctx = self.llama._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buffer = (ctypes.c_uint8 * size)()  # kept as is: slicing a ctypes array would build a list of ints
        written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
        ids = self.llama.input_ids[: self.llama.n_tokens].copy()
        return (buffer, written, ids), written + ids.nbytes

    def load(self, snapshot: Any) -> None:
        import llama_cpp

        buffer, written, ids = snapshot
        if llama_cpp.llama_state_seq_set_data(self.llama._ctx.ctx, buffer, written, 0) != written:
            self.reset()  # a failed restore leaves nothing half-loaded: the call recomputes everything
            return
        self.llama.input_ids[: len(ids)] = ids
        self.llama.n_tokens = len(ids)
        self.llama._requires_eval = True

    def reset(self) -> None:
        self.llama.reset()
        self.llama._ctx.kv_cache_seq_rm(0, 0, -1)

    def reused(self, held: int, prompt_tokens: int) -> int:
        return min(held, prompt_tokens - 1)  # llama.cpp re-evaluates the last token to get fresh logits


class LlamaCppLLM(LLM):
    engine = "llamacpp"
    supports_logprobs = True
    runs_packs = True
    state_adapter = LlamaCppState

    def __init__(self, path: str | Path, name: str, *, n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None,
                 n_batch: int = 512, parallel: int = DEFAULT_PARALLEL):
        from llama_cpp import Llama

        self.path = Path(path)
        threads = n_threads or os.cpu_count() or 1
        self.llama = Llama(model_path=str(self.path), n_ctx=n_ctx, n_batch=n_batch, n_ubatch=n_batch,
                           n_threads=threads, n_threads_batch=threads, seed=0, verbose=engine_logs())
        self.parallel = parallel
        self.thread_safe = parallel > 1  # calls from several threads join one batch (see llamacpp_batch.py)
        self._scheduler = None
        self._closed = False
        if parallel > 1:
            from .llamacpp_batch import Scheduler

            self._scheduler = Scheduler(self, parallel, self._decode_context(parallel))
        super().__init__(name, self.llama.n_ctx())
        self._n_vocab = self.llama.n_vocab()
        self._template = self.llama.metadata.get("tokenizer.chat_template")
        self._bos = self.llama.metadata.get("tokenizer.ggml.add_bos_token", "false") == "true"
        self._prompt_logits: tuple[tuple[int, ...], np.ndarray] | None = None  # the last prompt's, see _prefill

    @property
    def batch_width(self) -> int:
        return self.parallel

    def _decode_context(self, n_seq: int):
        """A second context on the same weights for the batch: n_seq sequences in one unified key/value cache of
        n_ctx cells. Prompts are evaluated on the Llama's own context (sequence 0: its prefix reuse and the prefix
        cache's snapshots apply as one at a time), then their cells are moved here: evaluated in the unified cache,
        a prompt would attend over every other sequence's cells (masked, but computed: 2.5x slower measured)."""
        from llama_cpp import _internals

        params = type(self.llama.context_params).from_buffer_copy(self.llama.context_params)
        params.n_seq_max = n_seq
        params.kv_unified = True
        return _internals.LlamaContext(model=self.llama._model, params=params, verbose=engine_logs())

    # -- tokens -------------------------------------------------------------------------------------------
    def tokenize(self, text: str) -> list[int]:
        if self._closed:  # every call tokenizes first; a closed llama.cpp model would crash the process
            raise BackendError(f"{self.model_id} is closed; load the model again")
        return self.llama.tokenize(text.encode("utf-8"), add_bos=self._bos, special=True)

    def detokenize(self, tokens: list[int]) -> str:
        return self.llama.detokenize(tokens).decode("utf-8", errors="replace")

    def _is_end(self, token: int) -> bool:
        import llama_cpp

        return bool(llama_cpp.llama_vocab_is_eog(llama_cpp.llama_model_get_vocab(self.llama.model), token))

    def apply_chat_template(self, messages: Sequence[Message]) -> str:
        if not self._template:
            return super().apply_chat_template(messages)
        from .chat_template import render

        return render(self._template, messages, bos_token=self._token_text(self.llama.token_bos()),
                      eos_token=self._token_text(self.llama.token_eos()))

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self.llama.detokenize([token], special=True).decode("utf-8", errors="replace")

    # -- decoding -----------------------------------------------------------------------------------------
    def _prefill(self, tokens: list[int]) -> tuple[int, np.ndarray]:
        """Evaluate the prompt, reusing the longest prefix already in the KV cache; return the reused count and
        the logits after the prompt.

        A prompt identical to the last one evaluated (n samples of one prompt, a retry) is not evaluated again:
        its KV entries are still cached and its last logits were kept. Re-evaluating even its last token alone
        would change the logits in the last bits (a batch of one takes another matrix kernel than the batched
        prompt), and inverse-CDF sampling over a flat distribution turns such bits into another token, so the
        same seed would not give the same text."""
        current = self.llama.input_ids[: self.llama.n_tokens].tolist()
        common = common_prefix_length(current, tokens)
        if self._prompt_logits is not None and common == len(tokens) and self._prompt_logits[0] == tuple(tokens):
            self.llama.n_tokens = len(tokens)
            return len(tokens), self._prompt_logits[1]
        cached = min(common, len(tokens) - 1)  # evaluate ≥ 1 token for logits
        self.llama.n_tokens = cached
        self.llama.eval(tokens[cached:])
        logits = self._logits()
        self._prompt_logits = (tuple(tokens), logits)
        return cached, logits

    def _logits(self) -> np.ndarray:
        return read_logits(self.llama.ctx, -1, self._n_vocab)

    @staticmethod
    def _pick(logits: np.ndarray, params: GenParams, rng: np.random.Generator) -> int:
        if params.temperature <= 0:
            return int(np.argmax(logits))
        z = (logits - logits.max()) / params.temperature
        probs = np.exp(z)
        probs /= probs.sum()
        if params.top_p < 1.0:
            order = np.argsort(-probs)
            keep = order[: int(np.searchsorted(np.cumsum(probs[order]), params.top_p)) + 1]
            mask = np.zeros_like(probs)
            mask[keep] = probs[keep]
            probs = mask / mask.sum()
        return int(rng.choice(len(probs), p=probs))

    def _decode(self, prompt: str, params: GenParams) -> Iterator[str | Generation]:
        started = time.perf_counter()
        tokens = self.tokenize(prompt)
        cached, logits = self._prefill(tokens)
        prefill_s = time.perf_counter() - started
        rng = np.random.default_rng(params.seed if params.seed is not None else 0)
        out: list[int] = []
        logprobs: list[float] = []
        emitted, finish, text = 0, "length", ""
        hold = max((len(s) for s in params.stop), default=0)
        for step in range(params.max_tokens):
            if step:
                logits = self._logits()
            token = self._pick(logits, params, rng)
            if self._is_end(token):
                finish = "stop"
                break
            if params.logprobs:
                shifted = logits - logits.max()
                logprobs.append(float(shifted[token] - np.log(np.exp(shifted).sum())))
            out.append(token)
            text = self.llama.detokenize(out).decode("utf-8", errors="ignore")
            cut = first_stop(text, params.stop)
            if cut is not None:
                text, finish = text[:cut], "stop"
                break
            safe = len(text) - hold
            if safe > emitted:
                yield text[emitted:safe]
                emitted = safe
            self.llama.eval([token])
        else:
            text = self.llama.detokenize(out).decode("utf-8", errors="replace")
        if len(text) > emitted:
            yield text[emitted:]
        latency = time.perf_counter() - started
        yield Generation(
            text=text, model=self.model_id, engine=self.engine, prompt_tokens=len(tokens),
            cached_prompt_tokens=cached, completion_tokens=len(out), latency_s=latency, compute_s=latency,
            finish_reason=finish, token_logprobs=logprobs if params.logprobs else None,
            tokens=[self._token_text(t) for t in out] if params.logprobs else None, prefill_s=prefill_s,
        )

    def _complete(self, prompt: str, params: GenParams) -> Generation:
        return collect(self._stream(prompt, params))

    def _stream(self, prompt: str, params: GenParams) -> Iterator[str | Generation]:
        if self._scheduler is not None:
            return self._scheduler.run(Request(self.tokenize(prompt), params))
        return self._decode(prompt, params)

    def _prepared(self, prompt: str, p: GenParams, prepare: Prepare) -> Generation:
        if self._scheduler is None:
            return super()._prepared(prompt, p, prepare)
        # the preparation (a prefix cache restoring its snapshot) runs in the batching thread, at admission
        return collect(self._scheduler.run(Request(self.tokenize(prompt), p, prepare=prepare)))

    def reset_cache(self) -> None:
        """Forget the KV cache (the next call reads its whole prompt)."""
        with self._engine_lock():
            self.llama.reset()
            self._prompt_logits = None

    def _engine_lock(self):
        return self._scheduler.lock if self._scheduler is not None else self._lock

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._scheduler is not None:
            self._scheduler.close()
        self.llama.close()

    @classmethod
    def load(cls, spec: ModelSpec) -> "LlamaCppLLM":
        return load(spec)


def load(spec: ModelSpec) -> LlamaCppLLM:
    opts = spec.options
    if spec.name in PACKS:
        path, name = resolve_gguf(spec.name), spec.name
    else:
        path = Path(spec.name).expanduser()
        if not path.is_file():
            from .registry import unknown_model

            raise unknown_model(f"llamacpp:{spec.name}")
        check_gguf_header(path)
        name = str(path.resolve())
    quant = opts.get("quant", PACKS[spec.name].llamacpp_quant if spec.name in PACKS else None)
    if quant and quant.lower() != "shipped":
        path, name = requantized(path, quant), f"{name}@{quant.lower()}"
    return LlamaCppLLM(path, name, n_ctx=spec.number("n_ctx", DEFAULT_N_CTX, 16, 2**20),
                       n_threads=spec.number("n_threads", None, 1, 1024),
                       n_batch=spec.number("n_batch", 512, 1, 2**16),
                       parallel=spec.number("parallel", DEFAULT_PARALLEL, 1, 256))
