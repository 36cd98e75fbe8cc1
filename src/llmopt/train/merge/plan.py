"""Planning a merge: from a configuration and the input models' headers to the list of output tensors (each
with its sources and resolved parameters) and the output shards. Nothing here reads tensor data, so
`--dry-run` can print the whole plan in a second.

A `models:` config is the one-slice case of a `slices:` config (every model's full layer range, the base model
appended when it is not listed), exactly as mergekit normalises it; layer-dependent parameters (gradients) see
t = layer / (layers - 1) within their slice, and t = 0 outside the layers.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ...errors import ConfigError, InputError
from .config import MergeConfiguration, ModelRef, Parameters
from .io import DTYPE_CODES, SAFETENSORS_DTYPES, TensorSlot, read_json, shard_names
from .methods import MergeMethod, get_method
from .models import LAYER_COUNT_KEYS, ModelInfo, is_embedding, load_model, resolve_folder
from .parameters import resolve_tensor, unused_parameter_warnings
from .vocab import UnionTokenizer, VocabAlignment, build_alignment, read_vocab, union_tokenizer


class ShapeMismatchError(InputError):
    """Input tensors that cannot be merged because their shapes differ."""


@dataclass(frozen=True)
class Source:
    model: str  # model key (the reference as written in the config)
    name: str  # tensor name in that model


@dataclass
class TensorTask:
    """One output tensor: where its inputs come from and the parameters the method gets for it."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # safetensors dtype code written
    sources: list[Source]
    base_index: int | None
    shared: dict[str, Any]
    per_input: list[dict[str, Any]]
    t: float = 0.0
    vocab: bool = False  # rows re-indexed by token before merging

    @property
    def nbytes(self) -> int:
        return TensorSlot(self.name, self.dtype, self.shape).nbytes

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype,
                "sources": [f"{s.model}:{s.name}" for s in self.sources],
                "base": self.sources[self.base_index].model if self.base_index is not None else None,
                "parameters": {"shared": self.shared, "per_input": self.per_input}, "vocab_aligned": self.vocab}


@dataclass
class ShardPlan:
    file: str
    tensors: list[str]
    nbytes: int


@dataclass
class MergePlan:
    config: MergeConfiguration
    method: MergeMethod
    models: dict[str, ModelInfo]
    tasks: list[TensorTask]
    shards: list[ShardPlan]
    out_config: dict
    donor: str  # config and generation config come from this model
    tokenizer_folder: Path | None  # tokenizer files come from here
    alignment: VocabAlignment | None
    seed: int
    warnings: list[str] = field(default_factory=list)
    tie_order: str = "mergekit"  # methods/sparsify.py: how equal magnitudes at a top-k cut are ordered
    union: UnionTokenizer | None = None  # tokenizer_source: union: the files written over the donor's tokenizer

    @property
    def total_bytes(self) -> int:
        return sum(task.nbytes for task in self.tasks)

    @property
    def total_parameters(self) -> int:
        return sum(_numel(task.shape) for task in self.tasks)

    @property
    def peak_bytes_estimate(self) -> int:
        """Working memory of the largest tensor: its inputs (twice: the next tensor's are read ahead), the
        method's scratch and the output."""
        def need(task: TensorTask) -> int:
            one = max(self.models[s.model].tensors[s.name].nbytes for s in task.sources)
            return one * (2 * len(task.sources) + self.method.work_factor + 1)
        return int(max((need(task) for task in self.tasks), default=0))

    @property
    def plan_id(self) -> str:
        """Changes whenever the output would: config, seed, shard layout and the input files."""
        digest = hashlib.sha256()
        digest.update(self.config.model_dump_json().encode())
        digest.update(json.dumps([self.seed, self.tie_order, [(s.file, s.tensors) for s in self.shards]]).encode())
        for model in self.models.values():
            for info in sorted({i.file for i in model.tensors.values()}):
                stat = info.stat()
                digest.update(f"{info}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        return digest.hexdigest()[:16]

    def slots(self, shard: ShardPlan) -> list[TensorSlot]:
        by_name = {task.name: task for task in self.tasks}
        return [TensorSlot(name, by_name[name].dtype, by_name[name].shape) for name in shard.tensors]

    def to_dict(self, tensors: bool = True) -> dict:
        out = {"method": self.method.name, "models": {k: str(m.folder) for k, m in self.models.items()},
               "base_model": str(self.config.base_model) if self.config.base_model else None,
               "tensors": len(self.tasks), "parameters": self.total_parameters, "bytes": self.total_bytes,
               "peak_bytes_estimate": self.peak_bytes_estimate, "seed": self.seed, "tie_order": self.tie_order,
               "shards": [{"file": s.file, "tensors": len(s.tensors), "bytes": s.nbytes} for s in self.shards],
               "vocabulary": self.alignment.to_dict() if self.alignment else None,
               "union_tokenizer": self.union.to_dict() if self.union else None, "warnings": self.warnings}
        if tensors:
            out["tensor_plan"] = [task.to_dict() for task in self.tasks]
        return out


@dataclass
class _Slice:
    sources: list[tuple[str, int, int, Parameters | None]]  # model key, first layer, end layer, parameters
    base: str | None
    parameters: Parameters | None


def plan_merge(config: MergeConfiguration, *, seed: int = 0, max_shard_size: int = 5_000_000_000,
               base_dir: Path | None = None, tie_order: str = "mergekit") -> MergePlan:
    """Plan a merge (headers only, no tensor data)."""
    method = get_method(config.merge_method)
    models = {str(ref): load_model(ref, base_dir) for ref in config.referenced_models()}
    _check_architectures(models)
    slices = _normalise(config, models)
    alignment, union = _alignment(config, models, base_dir)
    tasks = _plan_tensors(config, method, models, slices, alignment)
    donor = str(config.base_model or config.referenced_models()[0])
    warnings = unused_parameter_warnings(config, method)
    out_config = _out_config(config, models[donor], tasks, alignment, slices, warnings)
    plan = MergePlan(config=config, method=method, models=models, tasks=tasks,
                     shards=_assign_shards(tasks, max_shard_size), out_config=out_config, donor=donor,
                     tokenizer_folder=_tokenizer_folder(config, models, donor, base_dir), alignment=alignment,
                     seed=seed, warnings=warnings, tie_order=tie_order, union=union)
    return plan


def _check_architectures(models: dict[str, ModelInfo]) -> None:
    kinds = {key: model.architecture for key, model in models.items()}
    if len(set(kinds.values())) > 1:
        listing = ", ".join(f"{key}: {'/'.join(arch)}" for key, arch in kinds.items())
        raise InputError(f"the models have different architectures ({listing}); merging needs one architecture")


def _normalise(config: MergeConfiguration, models: dict[str, ModelInfo]) -> list[_Slice]:
    """Turn `models:` into one slice over every model's full depth; check every slice's layer ranges."""
    base = str(config.base_model) if config.base_model else None
    if config.models:
        sources = [(str(m.model), 0, models[str(m.model)].num_layers, m.parameters) for m in config.models]
        if base and base not in [s[0] for s in sources]:
            sources.append((base, 0, models[base].num_layers, None))
        depths = {key: end for key, _, end, _ in sources}
        if len(set(depths.values())) > 1:
            raise InputError(f"the models have different numbers of layers ({_listing(depths)}); "
                             "use slices to pick matching layer ranges")
        return [_Slice(sources, base, None)]
    slices = []
    for i, out_slice in enumerate(config.slices or []):
        sources = [(str(s.model), s.layer_range[0], s.layer_range[1], s.parameters) for s in out_slice.sources]
        for key, start, end, _ in sources:
            if end > models[key].num_layers:
                raise ConfigError(f"slices[{i}]: layer_range [{start}, {end}] exceeds the "
                                  f"{models[key].num_layers} layers of {key}")
        lengths = {key: end - start for key, start, end, _ in sources}
        if len(set(lengths.values())) > 1:
            raise ConfigError(f"slices[{i}]: every source must span the same number of layers ({_listing(lengths)})")
        slice_base = str(out_slice.base_model) if out_slice.base_model else base
        slices.append(_Slice(sources, slice_base, out_slice.parameters))
    return slices


def _listing(values: dict) -> str:
    return ", ".join(f"{k}: {v}" for k, v in values.items())


def _plan_tensors(config, method, models, slices, alignment) -> list[TensorTask]:
    for index, out_slice in enumerate(slices):  # structural errors first, before any parameter is resolved
        _check_method_inputs(method, out_slice, f" in slices[{index}]" if config.slices else "")
    pre, post = _outside_layers(models, slices)
    tasks = [_task(config, method, models, slices[0], name, [name] * len(slices[0].sources), 0.0, alignment)
             for name in pre]
    out_layer = 0
    for out_slice in slices:
        depth = out_slice.sources[0][2] - out_slice.sources[0][1]
        for offset in range(depth):
            t = offset / (depth - 1) if depth > 1 else 1.0
            tasks += _layer_tasks(config, method, models, out_slice, offset, out_layer, t, alignment)
            out_layer += 1
    tasks += [_task(config, method, models, slices[-1], name, [name] * len(slices[-1].sources), 0.0, alignment)
              for name in post]
    return tasks


def _check_method_inputs(method: MergeMethod, out_slice: _Slice, where: str) -> None:
    keys = [s[0] for s in out_slice.sources]
    if len(set(keys)) != len(keys) and method.name != "passthrough":
        raise ConfigError(f"a model appears twice among the inputs{where}; list each model once")
    method.check_inputs(len(keys), out_slice.base in keys, where)


def _outside_layers(models, slices) -> tuple[list[str], list[str]]:
    """Tensors outside the layers: embeddings come before them (from the first slice's models), the rest
    (final norm, output head) after them (from the last slice's)."""
    def names(out_slice: _Slice) -> list[str]:
        seen: dict[str, None] = {}
        for key, *_ in out_slice.sources:
            for name in models[key].others:
                seen.setdefault(name)
        return list(seen)
    pre = [n for n in names(slices[0]) if is_embedding(n)]
    post = [n for n in names(slices[-1]) if not is_embedding(n)]
    return pre, post


def _layer_tasks(config, method, models, out_slice, offset, out_layer, t, alignment) -> list[TensorTask]:
    ref_key, ref_start = out_slice.sources[0][0], out_slice.sources[0][1]
    reference = models[ref_key]
    tasks = []
    for suffix in reference.layers.get(ref_start + offset, {}):
        in_names = []
        for key, start, _, _ in out_slice.sources:
            name = models[key].layers.get(start + offset, {}).get(suffix)
            if name is None:
                raise InputError(f"{key} has no tensor {reference.layer_prefix}{start + offset}.{suffix}; "
                                 "the models' layers differ")
            in_names.append(name)
        out_name = f"{reference.layer_prefix}{out_layer}.{suffix}"
        tasks.append(_task(config, method, models, out_slice, out_name, in_names, t, alignment))
    return tasks


def _task(config, method, models, out_slice: _Slice, out_name: str, in_names: list[str], t: float,
          alignment: VocabAlignment | None) -> TensorTask:
    keys = [s[0] for s in out_slice.sources]
    sources = []
    for key, name in zip(keys, in_names):
        stored = models[key].lookup(name)
        if stored is None:
            raise InputError(f"{key} has no tensor {name}; the models' tensors differ")
        sources.append(Source(key, stored))
    base_index = keys.index(out_slice.base) if method.base != "ignored" and out_slice.base in keys else None
    infos = [models[s.model].tensors[s.name] for s in sources]
    vocab = _is_vocab(models[keys[0]], infos[0].shape)
    shape = _merged_shape(out_name, sources, infos, vocab, alignment)
    shared, per_input = resolve_tensor(
        method, [out_slice.parameters, config.parameters],
        [[params, out_slice.parameters, config.parameters] for _, _, _, params in out_slice.sources],
        out_name, in_names, keys, t, base_index)
    return TensorTask(out_name, shape, _out_dtype(config, infos), sources, base_index, shared, per_input, t,
                      vocab and alignment is not None and not alignment.identity)


def _is_vocab(model: ModelInfo, shape: tuple[int, ...]) -> bool:
    return len(shape) == 2 and model.vocab_size is not None and shape[0] == model.vocab_size


def _merged_shape(out_name, sources, infos, vocab, alignment) -> tuple[int, ...]:
    shapes = [info.shape for info in infos]
    if vocab and alignment is not None:
        if len({s[1:] for s in shapes}) > 1:
            raise ShapeMismatchError(f"tensor {out_name}: {_shape_listing(sources, shapes)}; the models' hidden "
                                     "sizes differ, so they cannot be merged")
        return (alignment.rows, *shapes[0][1:])
    if len(set(shapes)) > 1:
        hint = ("the vocabulary sizes differ: set tokenizer_source: base (or a model path) to align the "
                "embeddings by token" if vocab else "the models' architectures differ")
        raise ShapeMismatchError(f"tensor {out_name} has different shapes ({_shape_listing(sources, shapes)}); {hint}")
    return shapes[0]


def _shape_listing(sources, shapes) -> str:
    return ", ".join(f"{s.model}: {list(shape)}" for s, shape in zip(sources, shapes))


def _out_dtype(config: MergeConfiguration, infos) -> str:
    """The dtype written: out_dtype, else the inputs' dtype after `dtype` conversion, promoted (mergekit)."""
    dtypes = [info.torch_dtype for info in infos]
    if not all(d.is_floating_point for d in dtypes):
        return infos[0].dtype
    if config.out_dtype:
        return DTYPE_CODES[getattr(torch, config.out_dtype)]
    if config.dtype:
        return DTYPE_CODES[getattr(torch, config.dtype)]
    merged = dtypes[0]
    for dtype in dtypes[1:]:
        merged = torch.promote_types(merged, dtype)
    return DTYPE_CODES[merged]


def _alignment(config: MergeConfiguration, models: dict[str, ModelInfo],
               base_dir) -> tuple[VocabAlignment | None, UnionTokenizer | None]:
    source = config.vocabulary_source
    if source is None:
        return None, None
    keys = list(models)
    if isinstance(source, ModelRef):
        folder = models[str(source)].folder if str(source) in models else resolve_folder(source, base_dir)
    else:  # "base" and "union" start from the base model, else the first model
        folder = models[str(config.base_model) if config.base_model else keys[0]].folder
    rows = {key: _vocab_rows(model) for key, model in models.items()}
    vocabs = {key: read_vocab(model.folder) for key, model in models.items()}
    out_vocab = read_vocab(folder)
    source_key = next((k for k, m in models.items() if m.folder == folder), None)
    if source_key is not None:
        _check_source_fits(source_key, out_vocab, rows[source_key])
    union = _union(folder, source_key, models, rows) if source == "union" else None
    pad = config.tokenizer.pad_to_multiple_of if config.tokenizer else None
    return build_alignment(union.vocab if union else out_vocab, vocabs, rows, pad), union


def _union(folder: Path, base_key: str, models: dict[str, ModelInfo], rows: dict[str, int]) -> UnionTokenizer:
    def tokenizer_json(model_folder: Path) -> dict:
        path = model_folder / "tokenizer.json"
        if not path.is_file():
            raise InputError(f"{model_folder}: no tokenizer.json; tokenizer_source: union merges fast tokenizers' "
                             "vocabularies, so save the tokenizer there with tokenizer.save_pretrained (which "
                             "writes tokenizer.json) or use tokenizer_source: base")
        return read_json(path, "a tokenizer")

    others = [(tokenizer_json(m.folder), rows[k]) for k, m in models.items() if k != base_key]
    config_path = folder / "tokenizer_config.json"
    config = read_json(config_path, "a tokenizer configuration") if config_path.is_file() else None
    return union_tokenizer(tokenizer_json(folder), others, base_key, config)


def _check_source_fits(key: str, vocab: dict[str, int], rows: int) -> None:
    """The output tokenizer is the source model's, copied as it is: refuse one whose token ids run past that
    model's embedding rows (the merged model could not embed them; mergekit strips such tokens from its base)."""
    beyond = sorted((i, token) for token, i in vocab.items() if i >= rows)
    if beyond:
        tokens = ", ".join(repr(token) for _, token in beyond[:3]) + (", ..." if len(beyond) > 3 else "")
        raise InputError(f"{key}: its tokenizer has {max(vocab.values()) + 1} token ids but its embedding only "
                         f"{rows} rows, so {len(beyond)} tokens ({tokens}) would have no embedding in the merge; "
                         f"pick as tokenizer_source a model whose tokenizer fits its embedding rows, or resize "
                         f"{key}'s embeddings to {max(vocab.values()) + 1} rows")


def _vocab_rows(model: ModelInfo) -> int:
    for name in model.others:
        shape = model.tensors[name].shape
        if _is_vocab(model, shape):
            return shape[0]
    found = ", ".join(f"{name} has {model.tensors[name].shape[0]} rows" for name in model.others
                      if is_embedding(name) and model.tensors[name].shape)
    if model.vocab_size is None:
        raise InputError(f"{model.key}: config.json has no vocab_size, so its embedding rows ({found or 'none found'}) "
                         "cannot be matched to its tokenizer; add vocab_size to its config.json")
    raise InputError(f"{model.key}: config.json says vocab_size {model.vocab_size} but no embedding has that many "
                     f"rows ({found or 'no embedding found'}); set vocab_size in its config.json to the embedding's "
                     "row count")


def _assign_shards(tasks: list[TensorTask], max_shard_size: int) -> list[ShardPlan]:
    groups: list[list[TensorTask]] = [[]]
    size = 0
    for task in tasks:
        if groups[-1] and size + task.nbytes > max_shard_size:
            groups.append([])
            size = 0
        groups[-1].append(task)
        size += task.nbytes
    names = shard_names(len(groups))
    # widest dtypes first: with contiguous tensors that keeps every tensor aligned to its element size
    ordered = [sorted(group, key=lambda t: -SAFETENSORS_DTYPES[t.dtype].itemsize) for group in groups]
    return [ShardPlan(file, [t.name for t in group], sum(t.nbytes for t in group))
            for file, group in zip(names, ordered)]


def _out_config(config, donor: ModelInfo, tasks, alignment, slices, warnings) -> dict:
    """The output config.json: the donor's, with the layer count, vocabulary size and dtype of the merge."""
    out = copy.deepcopy(donor.config)
    layers = sum(s.sources[0][2] - s.sources[0][1] for s in slices)
    for key in LAYER_COUNT_KEYS:
        if isinstance(out.get(key), int):
            out[key] = layers
            break
    if alignment is not None:
        out["vocab_size"] = alignment.rows
    dtype = config.out_dtype or config.dtype
    if dtype:
        for key in [k for k in ("dtype", "torch_dtype") if k in out] or ["torch_dtype"]:
            out[key] = dtype
    if any(t.name.endswith("lm_head.weight") for t in tasks) and out.get("tie_word_embeddings"):
        out["tie_word_embeddings"] = False
        warnings.append("some inputs store a separate lm_head: the output keeps it and unties the embeddings")
    return out


def _tokenizer_folder(config, models, donor: str, base_dir) -> Path | None:
    source = config.vocabulary_source
    if isinstance(source, ModelRef):
        return models[str(source)].folder if str(source) in models else resolve_folder(source, base_dir)
    return models[donor].folder


def _numel(shape: tuple[int, ...]) -> int:
    count = 1
    for dim in shape:
        count *= dim
    return count


__all__ = ["MergePlan", "TensorTask", "ShardPlan", "Source", "ShapeMismatchError", "plan_merge",
           "SAFETENSORS_DTYPES"]
