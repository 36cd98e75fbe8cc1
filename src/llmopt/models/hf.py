"""transformers models: a local HF folder, a model pack's GGUF converted once to a plain safetensors folder
(cached under LLMOPT_HOME/models/hf/), or a hub id (needs internet; never used by defaults or tests).

Training, distillation and logprob-based selection use this backend. Options: ?device=cpu&dtype=float32.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import ModelSpecError
from ..paths import models_dir
from ..types import Generation
from .base import LLM, GenParams, Message
from .hf_state import HFState
from .packs import PACKS, resolve_gguf
from .spec import ModelSpec


def converted_folder(pack_name: str) -> Path:
    """A pack's GGUF dequantized to a plain safetensors folder, converted once and cached.

    transformers marks a GGUF-loaded config as quantized; that entry is dropped so training works later."""
    target = models_dir() / "hf" / pack_name
    if (target / "config.json").is_file():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = resolve_gguf(pack_name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    strip_quantization(model)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    if (tmp / "config.json").is_file():
        import json

        config = json.loads((tmp / "config.json").read_text())
        config.pop("quantization_config", None)
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    return target


def strip_quantization(model: Any) -> None:
    """The weights are already dequantized to float32; drop the GGUF quantizer so the model saves and trains."""
    model.hf_quantizer = None
    model.is_quantized = False
    config = model.config
    if hasattr(config, "quantization_config"):
        try:
            delattr(config, "quantization_config")
        except AttributeError:
            config.__dict__.pop("quantization_config", None)


class HFLLM(LLM):
    engine = "hf"
    supports_logprobs = True
    runs_packs = True
    state_adapter = HFState

    def __init__(self, folder: str | Path, name: str, *, device: str = "cpu", dtype: str = "float32"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.folder = str(folder)
        self.device = device
        if device == "cpu":
            torch.set_num_threads(os.cpu_count() or 1)
        self.tokenizer = AutoTokenizer.from_pretrained(self.folder)
        self.model = AutoModelForCausalLM.from_pretrained(self.folder, dtype=getattr(torch, dtype)).to(device).eval()
        config = self.model.config
        super().__init__(name, int(getattr(config, "max_position_embeddings", 2048) or 2048))
        eos = self.tokenizer.eos_token_id
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos

    def tokenize(self, text: str) -> list[int]:
        bos = self.tokenizer.bos_token
        add_special = not (bos and text.startswith(bos))
        return self.tokenizer(text, add_special_tokens=add_special)["input_ids"]

    def detokenize(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens)

    def apply_chat_template(self, messages: Sequence[Message]) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
        return super().apply_chat_template(messages)

    def _gen_kwargs(self, params: GenParams) -> dict[str, Any]:
        import torch

        kwargs: dict[str, Any] = {"max_new_tokens": max(1, params.max_tokens), "pad_token_id": self.pad_id,
                                  "do_sample": params.temperature > 0}
        if params.temperature > 0:
            kwargs.update(temperature=params.temperature, top_p=params.top_p)
            torch.manual_seed(params.seed if params.seed is not None else 0)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        return kwargs

    def _finish(self, new_ids: list[int], params: GenParams) -> tuple[str, str]:
        text = self.tokenizer.decode(new_ids, skip_special_tokens=True)
        finish = "length" if len(new_ids) >= params.max_tokens and (not new_ids or new_ids[-1] != self.tokenizer.eos_token_id) else "stop"
        for stop in params.stop:
            if stop in text:
                text, finish = text[: text.index(stop)], "stop"
        return text, finish

    def _complete(self, prompt: str, params: GenParams) -> Generation:
        return self._batch([prompt], params)[0]

    def _complete_tokens(self, prompt: str, tokens: list[int], params: GenParams) -> Generation:
        """A prefix-cached call: generate from the held cache's shared part, then hold the cache it produced."""
        import torch

        state = self.engine_state()
        cache, held = state.prefix_cache(tokens)
        kwargs = self._gen_kwargs(params)
        if cache is not None:
            kwargs["past_key_values"] = cache
        ids = torch.tensor([tokens], device=self.device)
        started = time.perf_counter()
        with torch.inference_mode():
            out = self.model.generate(ids, attention_mask=torch.ones_like(ids), output_scores=params.logprobs,
                                      return_dict_in_generate=True, **kwargs)
        seconds = time.perf_counter() - started
        new_ids = out.sequences[0, len(tokens):].tolist()
        eos = self.tokenizer.eos_token_id
        if eos in new_ids:
            new_ids = new_ids[: new_ids.index(eos) + 1]
        state.keep(out, tokens + new_ids)
        text, finish = self._finish(new_ids, params)
        logprobs = None
        if params.logprobs:
            logprobs = self.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)[
                0, : len(new_ids)].tolist()
        return Generation(text=text, model=self.model_id, engine=self.engine, prompt_tokens=len(tokens),
                          cached_prompt_tokens=held, completion_tokens=len(new_ids), latency_s=seconds,
                          compute_s=seconds, finish_reason=finish, token_logprobs=logprobs,
                          tokens=[self.tokenizer.decode([t]) for t in new_ids] if logprobs is not None else None)

    def _batch(self, prompts: Sequence[str], params: GenParams) -> list[Generation]:
        import torch

        encoded = [self.tokenize(p) for p in prompts]
        width = max(len(e) for e in encoded)
        ids = torch.full((len(encoded), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, tokens in enumerate(encoded):  # left padding keeps every prompt's end aligned
            ids[row, width - len(tokens):] = torch.tensor(tokens)
            mask[row, width - len(tokens):] = 1
        started = time.perf_counter()
        with torch.inference_mode():
            out = self.model.generate(ids.to(self.device), attention_mask=mask.to(self.device),
                                      output_scores=params.logprobs, return_dict_in_generate=True,
                                      **self._gen_kwargs(params))
        seconds = time.perf_counter() - started
        scores = None
        if params.logprobs:
            scores = self.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
        results = []
        for row, tokens in enumerate(encoded):
            new_ids = out.sequences[row, width:].tolist()
            while new_ids and new_ids[-1] == self.pad_id and self.pad_id != self.tokenizer.eos_token_id:
                new_ids.pop()
            if self.tokenizer.eos_token_id in new_ids:
                new_ids = new_ids[: new_ids.index(self.tokenizer.eos_token_id) + 1]
            text, finish = self._finish(new_ids, params)
            logprobs = scores[row, : len(new_ids)].tolist() if scores is not None else None
            results.append(Generation(
                text=text, model=self.model_id, engine=self.engine, prompt_tokens=len(tokens),
                completion_tokens=len(new_ids), latency_s=seconds, compute_s=seconds / len(prompts),
                finish_reason=finish, token_logprobs=logprobs,
                tokens=[self.tokenizer.decode([t]) for t in new_ids] if logprobs is not None else None,
            ))
        return results

    def generate_batch(self, prompts: Sequence[str], **params: Any) -> list[Generation]:
        """One padded batch through model.generate (prompts must fit the context window)."""
        from ..runlog import log_generation

        p = GenParams.make(**params)
        fitted = [self._fit(prompt, p) for prompt in prompts]
        p = min((f[1] for f in fitted), key=lambda q: q.max_tokens, default=p)
        with self._lock:
            gens = self._batch([f[0] for f in fitted], p)
        for prompt, gen in zip(prompts, gens):
            self._price(gen)
            log_generation(gen, model=self.model_id, engine=self.engine, prompt=prompt)
        return gens

    def chat_batch(self, conversations: Sequence[Sequence[Message]], **params: Any) -> list[Generation]:
        """Conversations rendered with the chat template, answered in one padded batch."""
        return self.generate_batch([self.apply_chat_template(m) for m in conversations], **params)

    @classmethod
    def load(cls, spec: ModelSpec) -> "HFLLM":
        return load(spec)

    def _stream(self, prompt: str, params: GenParams) -> Iterator[str | Generation]:
        import torch
        from transformers import TextIteratorStreamer

        tokens = self.tokenize(prompt)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        ids = torch.tensor([tokens], device=self.device)
        box: dict[str, Any] = {}

        def work() -> None:
            with torch.inference_mode():
                box["out"] = self.model.generate(ids, attention_mask=torch.ones_like(ids), streamer=streamer,
                                                 **self._gen_kwargs(params))

        started = time.perf_counter()
        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        for piece in streamer:
            if piece:
                yield piece
        thread.join()
        seconds = time.perf_counter() - started
        new_ids = box["out"][0, len(tokens):].tolist()
        text, finish = self._finish(new_ids, params)
        yield Generation(text=text, model=self.model_id, engine=self.engine, prompt_tokens=len(tokens),
                         completion_tokens=len(new_ids), latency_s=seconds, compute_s=seconds, finish_reason=finish)


def load(spec: ModelSpec) -> HFLLM:
    name = spec.name
    opts = {k: v for k, v in spec.options.items() if k in ("device", "dtype")}
    if name in PACKS:
        return HFLLM(converted_folder(name), name, **opts)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():  # PEFT adapter: transformers loads base + adapter
            raise ModelSpecError(f"hf:{name}: {path} has no config.json; point hf: at a transformers model folder")
        return HFLLM(path, str(path.resolve()), **opts)
    if "/" in name and not path.exists() and not name.startswith((".", "/", "~")):
        try:  # a hub id: kept for users with internet, never used by defaults or tests
            return HFLLM(name, name, **opts)
        except OSError as exc:
            raise ModelSpecError(f"hf:{name}: not a local folder and the hub could not provide it ({exc})") from exc
    from .registry import unknown_model

    raise unknown_model(f"hf:{name}")
