"""Export a trained HF folder to GGUF for the llama.cpp engine, with the `gguf` package, and verify it.

The export is done only when llama-cpp-python loads the file, tokenizes the verification prompts exactly as the HF
tokenizer does, and produces the same greedy tokens as the HF model on all of them; otherwise it raises
ExportError saying what differs and keeps nothing.

Supported architectures: Llama (SmolLM2 and other Llama-family models) and Qwen2 (Qwen2.5 / Qwen2.5-Coder).
The tokenizer's metadata is copied from the model pack's GGUF when the vocabulary is the same (the exact
tokenizer llama.cpp already uses for it); otherwise it is built from tokenizer.json.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import LlmoptError

ARCHS = {"LlamaForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2"}
PROMPTS = ("What is the capital of France?", "Write a SQL query that counts the rows of the table singer.",
           "Summarize: revenue grew 12% to $4.2 billion in the second quarter.")
QWEN2_SPLIT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"


class ExportError(LlmoptError):
    """The GGUF could not be written, loaded, or did not reproduce the HF model."""


@dataclass
class ExportResult:
    path: Path
    outtype: str
    size_bytes: int
    prompts: list[str]
    hf_tokens: list[list[int]] = field(default_factory=list)
    gguf_tokens: list[list[int]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"path": str(self.path), "outtype": self.outtype, "size_bytes": self.size_bytes,
                "verified_prompts": len(self.prompts), "greedy_tokens_equal": self.hf_tokens == self.gguf_tokens}


def export_gguf(folder: str | Path, out: str | Path | None = None, *, outtype: str = "f16",
                verify_tokens: int = 16, prompts: tuple[str, ...] = PROMPTS) -> ExportResult:
    """Write FOLDER as a GGUF file (default FOLDER/model-<outtype>.gguf) and verify it; raise ExportError if not equal."""
    folder = Path(folder)
    if outtype not in ("f32", "f16"):
        raise ExportError(f"--outtype {outtype}: use f32 or f16 (quantize afterwards with the llama.cpp engine's ?quant=)")
    config = json.loads((folder / "config.json").read_text()) if (folder / "config.json").is_file() else None
    if config is None:
        raise ExportError(f"{folder} has no config.json; merge LoRA adapters first (--merge-lora) and export the merged folder")
    arch = ARCHS.get((config.get("architectures") or ["?"])[0])
    if arch is None:
        raise ExportError(f"architecture {config.get('architectures')} is not supported for export; supported: "
                          f"{', '.join(ARCHS)}")
    out = Path(out) if out else folder / f"model-{outtype}.gguf"
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        write_gguf(folder, config, arch, tmp, outtype)
        result = verify(folder, tmp, outtype, prompts, verify_tokens)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, out)
    result.path = out
    return result


def _rope_theta(config: dict) -> float:
    params = config.get("rope_parameters") or config.get("rope_scaling") or {}
    if params.get("rope_type", "default") not in ("default", None):
        raise ExportError(f"rope type {params['rope_type']!r} is not supported by this exporter")
    return float(params.get("rope_theta") or config.get("rope_theta") or 10000.0)


def _permute(weights: np.ndarray, heads: int) -> np.ndarray:
    """HF stores Llama q/k rotary halves split; llama.cpp wants them interleaved (as llama.cpp's converter does)."""
    return (weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def write_gguf(folder: Path, config: dict, arch: str, path: Path, outtype: str) -> None:
    import gguf

    writer = gguf.GGUFWriter(str(path), arch)
    heads, kv_heads = config["num_attention_heads"], config.get("num_key_value_heads", config["num_attention_heads"])
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    writer.add_name(folder.name)
    writer.add_context_length(config.get("max_position_embeddings", 2048))
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(_rope_theta(config))
    writer.add_layer_norm_rms_eps(config.get("rms_norm_eps", 1e-6))
    writer.add_file_type(gguf.LlamaFileType.ALL_F32 if outtype == "f32" else gguf.LlamaFileType.MOSTLY_F16)
    add_tokenizer(writer, folder, int(config["vocab_size"]))
    names = gguf.get_tensor_name_map(getattr(gguf.MODEL_ARCH, arch.upper()), config["num_hidden_layers"])
    for name, tensor in _tensors(folder):
        data = tensor.float().numpy()
        if arch == "llama" and name.endswith("q_proj.weight"):
            data = _permute(data, heads)
        elif arch == "llama" and name.endswith("k_proj.weight"):
            data = _permute(data, kv_heads)
        target = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if target is None:
            raise ExportError(f"no GGUF name for tensor {name}")
        keep_f32 = outtype == "f32" or data.ndim == 1  # norms and biases stay f32, as in llama.cpp's converter
        writer.add_tensor(target, data.astype(np.float32 if keep_f32 else np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _tensors(folder: Path):
    from .merge.io import read_torch_tensors

    return ((key, tensor) for key, tensor in read_torch_tensors(folder) if not key.endswith("rotary_emb.inv_freq"))


def add_tokenizer(writer, folder: Path, n_vocab: int) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    vocab = tokenizer.get_vocab()
    tokens = [None] * len(vocab)
    for token, index in vocab.items():
        tokens[index] = token
    if any(t is None for t in tokens):
        raise ExportError("the tokenizer's ids are not contiguous; this exporter cannot write it")
    source = _matching_pack(tokens)
    if source is not None:
        _copy_tokenizer(writer, source)
    else:
        _tokenizer_from_json(writer, folder, tokenizer, tokens, n_vocab)


def _matching_pack(tokens: list[str]):
    """A model pack's GGUF whose vocabulary is exactly `tokens` (so llama.cpp tokenizes as it does for the pack)."""
    from gguf import GGUFReader

    from ..models.packs import PACKS, available, resolve_gguf

    for pack in PACKS.values():
        if not available(pack):
            continue
        try:
            reader = GGUFReader(str(resolve_gguf(pack.name)))
        except Exception:  # an incomplete chunked pack: not a candidate
            continue
        field_ = reader.fields.get("tokenizer.ggml.tokens")
        if field_ is not None and len(field_.data) == len(tokens) and field_.contents() == tokens:
            return reader
    return None


def _copy_tokenizer(writer, reader) -> None:
    import gguf

    for key, field_ in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        value = field_.contents()
        kind = field_.types[0]
        if kind == gguf.GGUFValueType.ARRAY:
            writer.add_array(key, value)
        else:
            writer.add_key_value(key, value, kind)


def _tokenizer_from_json(writer, folder: Path, tokenizer, tokens: list[str], n_vocab: int) -> None:
    import gguf

    data = json.loads((folder / "tokenizer.json").read_text())
    if data["model"]["type"] != "BPE":
        raise ExportError(f"tokenizer model {data['model']['type']} is not supported (only byte-level BPE)")
    pre = _pre_name(tokenizer)
    added = {t["id"]: t for t in data.get("added_tokens", [])}
    types = [(gguf.TokenType.CONTROL if added[i].get("special") else gguf.TokenType.USER_DEFINED) if i in added
             else gguf.TokenType.NORMAL for i in range(len(tokens))]
    padding = max(0, n_vocab - len(tokens))  # embedding rows beyond the tokenizer: llama.cpp needs a name for each
    tokens = tokens + [f"[PAD{i}]" for i in range(len(tokens), len(tokens) + padding)]
    types += [gguf.TokenType.UNUSED] * padding
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    special = gguf.SpecialVocab(str(folder), load_merges=True, n_vocab=len(tokens))
    special.add_to_gguf(writer, quiet=True)


def _pre_name(tokenizer) -> str:
    """llama.cpp's name for the way the loaded HF tokenizer splits text before BPE (what it really does, which in
    transformers 5 follows the model type, not necessarily tokenizer.json)."""
    pre = json.loads(tokenizer.backend_tokenizer.to_str()).get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    kinds = [step.get("type") for step in steps]
    if kinds == ["ByteLevel"] and steps[0].get("use_regex", True):
        return "gpt-2"
    if kinds == ["Digits", "ByteLevel"] and steps[0].get("individual_digits") and steps[1].get("use_regex", True):
        return "smollm"  # GPT-2 splitting with one token per digit
    if kinds == ["Split", "ByteLevel"] and steps[0].get("pattern", {}).get("Regex") == QWEN2_SPLIT:
        return "qwen2"
    raise ExportError(f"pre-tokenizer {json.dumps(pre)[:160]} has no known llama.cpp equivalent; llama.cpp would "
                      "split text differently, so the export is refused")


def verify(folder: Path, path: Path, outtype: str, prompts: tuple[str, ...], n_tokens: int) -> ExportResult:
    """Same prompt tokens and the same greedy continuation in transformers and in llama-cpp-python."""
    import torch
    from llama_cpp import Llama
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    llm = Llama(str(path), n_ctx=512, n_threads=os.cpu_count() or 1, verbose=False, logits_all=False)
    result = ExportResult(path, outtype, path.stat().st_size, list(prompts))
    try:
        for prompt in prompts:
            text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                 add_generation_prompt=True) if tokenizer.chat_template else prompt
            ids = tokenizer(text, add_special_tokens=True)["input_ids"]
            theirs = llm.tokenize(text.encode(), add_bos=bool(ids) and ids[0] == tokenizer.bos_token_id, special=True)
            if theirs != ids:
                at = next((i for i, (a, b) in enumerate(zip(ids, theirs)) if a != b), min(len(ids), len(theirs)))
                raise ExportError(f"llama.cpp tokenizes {prompt!r} differently from the HF tokenizer from token {at} "
                                  f"(HF {ids[at:at + 5]} vs llama.cpp {theirs[at:at + 5]}); the export is refused")
            with torch.no_grad():
                hf = model.generate(torch.tensor([ids]), max_new_tokens=n_tokens, do_sample=False,
                                    pad_token_id=tokenizer.pad_token_id or 0)[0, len(ids):].tolist()
            result.hf_tokens.append(hf)
            result.gguf_tokens.append(_greedy(llm, ids, len(hf), tokenizer.eos_token_id))
            if result.gguf_tokens[-1] != hf:
                where = next((i for i, (a, b) in enumerate(zip(hf, result.gguf_tokens[-1])) if a != b), len(hf))
                raise ExportError(
                    f"greedy tokens differ on {prompt!r} from token {where} (HF {hf[where:where + 4]} vs GGUF "
                    f"{result.gguf_tokens[-1][where:where + 4]})"
                    + ("; f16 rounding can flip near-ties: try --outtype f32" if outtype == "f16" else ""))
    finally:
        llm.close()
    return result


def _greedy(llm, ids: list[int], n: int, eos: int | None) -> list[int]:
    out: list[int] = []
    for token in llm.generate(ids, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0, reset=True):
        out.append(token)
        if len(out) >= n or token == eos:
            break
    return out
