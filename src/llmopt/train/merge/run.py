"""Executing a merge plan: tensor by tensor, reading the next tensor's inputs and writing the previous one while
the current one merges, into shards in a hidden work folder that becomes the output folder only when complete.

A killed merge leaves no output folder, only the work folder; running the same merge again (same config, seed
and inputs) resumes from its completed shards. Peak memory is that of a couple of tensors' inputs, never the
models'.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import shutil
import time
import zlib
from collections import Counter
from collections.abc import Callable
import concurrent.futures
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import torch

from ...errors import ConfigError, LlmoptError
from ...paths import atomic_write_text
from .config import MergeConfiguration, load_config
from .methods.sparsify import TIE_ORDERS, use_tie_order
from .io import SAFETENSORS_DTYPES, ShardWriter, TensorReader, index_json, parse_size
from .plan import MergePlan, TensorTask, plan_merge
from .vocab import align_rows

Progress = Callable[[int, int, str], None]  # (tensors done, tensors in all, current tensor name)
WORK_MARK = ".llmopt-merge-"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
                   "added_tokens.json", "merges.txt", "vocab.json", "chat_template.jinja", "chat_template.json")


class MergeError(LlmoptError):
    """A merge that cannot produce a valid model (NaN/Inf outputs, disagreeing integer buffers, busy output)."""


@dataclass
class MergeResult:
    """What a merge produced (or, for a dry run, would produce)."""

    method: str
    out_dir: Path | None
    dry_run: bool
    tensors: int
    parameters: int
    bytes: int
    shards: list[str]
    seconds: float
    resumed_shards: int = 0
    warnings: list[str] = field(default_factory=list)
    plan: MergePlan | None = None

    def to_dict(self, include_plan: bool = False) -> dict[str, Any]:
        out = {"method": self.method, "out_dir": str(self.out_dir) if self.out_dir else None,
               "dry_run": self.dry_run, "tensors": self.tensors, "parameters": self.parameters,
               "bytes": self.bytes, "shards": self.shards, "seconds": round(self.seconds, 3),
               "resumed_shards": self.resumed_shards, "warnings": self.warnings}
        if include_plan and self.plan is not None:
            out["plan"] = self.plan.to_dict()
        return out


def run_merge(config: Union[str, Path, dict, MergeConfiguration], out_dir: Union[str, Path, None] = None, *,
              dry_run: bool = False, overwrite: bool = False, seed: int = 0,
              max_shard_size: Union[str, int] = "5GB", copy_tokenizer: bool = True, threads: int | None = 1,
              durable: bool = False, tie_order: str = "mergekit", progress: Progress | None = None) -> MergeResult:
    """Merge models as a mergekit-style config says and write an HF model folder to out_dir.

    config: a YAML path, a dict or a MergeConfiguration. seed drives the random methods (DARE, DELLA).
    tie_order: "mergekit" (default) or "position": which of several equal magnitudes at a TIES/breadcrumbs cut
    are kept (see methods/sparsify.py): "mergekit" the ones mergekit keeps (its tensors bit for bit), "position"
    the earliest (no float32 copy of the magnitudes for a tensor with such a tie).
    threads: torch compute threads during the merge (None: leave torch's setting). The math is memory-bound
    and reading and writing already run on threads of their own; more OpenMP threads mostly wait on each
    other, badly so on a shared machine. With dry_run, only plan (no tensor data is read) and return the plan in the result."""
    started = time.perf_counter()
    base_dir = Path(config).resolve().parent if isinstance(config, (str, Path)) else None
    merge_config = load_config(config)
    if tie_order not in TIE_ORDERS:
        raise ConfigError(f"unknown tie order '{tie_order}'; use one of: {', '.join(TIE_ORDERS)}")
    plan = plan_merge(merge_config, seed=seed, max_shard_size=parse_size(max_shard_size), base_dir=base_dir,
                      tie_order=tie_order)
    result = MergeResult(plan.method.name, Path(out_dir) if out_dir else None, dry_run, len(plan.tasks),
                         plan.total_parameters, plan.total_bytes, [s.file for s in plan.shards], 0.0,
                         warnings=list(plan.warnings), plan=plan)
    if not dry_run:
        if out_dir is None:
            raise ConfigError("no output folder given; pass --out DIR (or dry_run=True to only plan)")
        with _torch_threads(threads):
            result.resumed_shards = execute(plan, Path(out_dir), overwrite=overwrite, copy_tokenizer=copy_tokenizer,
                                            durable=durable, progress=progress)
    result.seconds = time.perf_counter() - started
    return result


@contextlib.contextmanager
def _torch_threads(threads: int | None):
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 0):
        raise ConfigError(f"--threads {threads!r}: pass a whole number of torch threads (1 or more; 0 keeps torch's own setting)")
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def execute(plan: MergePlan, out_dir: Path, *, overwrite: bool = False, copy_tokenizer: bool = True,
            durable: bool = False, progress: Progress | None = None) -> int:
    """Run a plan into out_dir atomically; return how many shards were reused from an interrupted run."""
    out_dir = out_dir.expanduser().resolve()
    for model in plan.models.values():  # publishing replaces out_dir: never an input, nor a folder holding one
        folder = Path(model.folder).resolve()
        if folder == out_dir or folder.is_relative_to(out_dir):
            raise ConfigError(f"--out {out_dir} would replace the input model {model.key}; choose another --out")
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise ConfigError(f"output folder {out_dir} already exists; pass --overwrite or choose another --out")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = out_dir.parent / f".{out_dir.name}{WORK_MARK}{plan.plan_id}"
    _clear_stale_work(out_dir, keep=work)
    work.mkdir(exist_ok=True)
    lock = _lock(work)
    try:
        resumed = _write_shards(plan, work, progress, durable)
        _write_side_files(plan, work, copy_tokenizer)
        (work / ".lock").unlink(missing_ok=True)
        _publish(work, out_dir)
    except LlmoptError:
        shutil.rmtree(work, ignore_errors=True)  # deterministic: a rerun would fail the same way
        raise
    finally:
        os.close(lock)
    return resumed


def _lock(work: Path) -> int:
    fd = os.open(work / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise MergeError(f"another merge is writing {work}; wait for it to finish") from None
    return fd


def _clear_stale_work(out_dir: Path, keep: Path) -> None:
    """Remove work folders of earlier, different merges into the same output (killed runs), unless in use."""
    for stale in out_dir.parent.glob(f".{out_dir.name}{WORK_MARK}*"):
        if stale == keep or not stale.is_dir():
            continue
        try:
            fd = _lock(stale)
        except (MergeError, OSError):
            continue
        shutil.rmtree(stale, ignore_errors=True)
        os.close(fd)


def _publish(work: Path, out_dir: Path) -> None:
    """Rename the finished work folder into place (replacing an old output only now that the new one is whole)."""
    old = None
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.llmopt-old-{os.getpid()}"
        os.replace(out_dir, old)
    os.replace(work, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_shards(plan: MergePlan, work: Path, progress: Progress | None, durable: bool = False) -> int:
    """Write every shard not already complete in `work`; return how many were. Three threads overlap: one
    pages in the next tensor's inputs, this one merges, one writes the previous tensor out."""
    todo = [shard for shard in plan.shards if not (work / shard.file).is_file()]
    by_name = {task.name: task for task in plan.tasks}
    queue = [by_name[name] for shard in todo for name in shard.tensors]
    done = len(plan.tasks) - len(queue)
    with TensorReader(_read_twice(plan)) as reader, ThreadPoolExecutor(1) as reads, ThreadPoolExecutor(1) as writes:
        stream = _read_ahead(plan, reader, reads, queue)
        for shard in todo:
            writer, written = ShardWriter(work / shard.file, plan.slots(shard), durable), None
            try:
                for task, inputs in itertools.islice(stream, len(shard.tensors)):
                    merged = merge_tensor(plan, task, inputs)
                    if written is not None:
                        written.result()  # one output in flight at most: memory stays bounded
                    written = writes.submit(_write_one, plan, reader, writer, task, merged)
                    del merged
                    done += 1
                    if progress:
                        progress(done, len(plan.tasks), task.name)
                if written is not None:
                    written.result()
                writer.close()
            except BaseException:
                if written is not None:
                    concurrent.futures.wait([written])
                writer.abort()
                raise
    return len(plan.shards) - len(todo)


def _write_one(plan: MergePlan, reader: TensorReader, writer: ShardWriter, task: TensorTask,
               merged: torch.Tensor) -> None:
    writer.write(task.name, merged)
    for source in task.sources:  # the output may live in an input's pages: drop them only now
        reader.release(plan.models[source.model].tensors[source.name])


def _read_twice(plan: MergePlan) -> set:
    """Input tensors that feed more than one output: each use needs its own copy (merges work in place)."""
    uses = Counter(plan.models[s.model].tensors[s.name] for task in plan.tasks for s in task.sources)
    return {info for info, count in uses.items() if count > 1}


def _read_ahead(plan: MergePlan, reader: TensorReader, pool: ThreadPoolExecutor, queue: list[TensorTask]):
    """(task, inputs) in order; the next task's inputs are read (paged in) by the pool while this one merges."""
    pending = pool.submit(load_inputs, plan, reader, queue[0]) if queue else None
    for position, task in enumerate(queue):
        inputs = pending.result()
        following = position + 1 < len(queue)
        pending = pool.submit(load_inputs, plan, reader, queue[position + 1]) if following else None
        yield task, inputs
        del inputs


def load_inputs(plan: MergePlan, reader: TensorReader, task: TensorTask) -> list[torch.Tensor]:
    return [reader.read(plan.models[s.model].tensors[s.name], plan.method.written(i, task.base_index))
            for i, s in enumerate(task.sources)]


def merge_tensor(plan: MergePlan, task: TensorTask, inputs: list[torch.Tensor]) -> torch.Tensor:
    """One output tensor from its inputs: dtype handling as mergekit (convert to `dtype`, promote), vocabulary
    alignment, the method, the output dtype, and a finiteness check. `inputs` is consumed (the list is
    emptied as the method goes), so that no input outlives its use."""
    if not all(t.is_floating_point() for t in inputs):
        return _agreed_buffer(task, inputs)
    common = getattr(torch, plan.config.dtype) if plan.config.dtype else inputs[0].dtype
    if not plan.config.dtype:
        for tensor in inputs[1:]:
            common = torch.promote_types(common, tensor.dtype)
    inputs[:] = [t.to(common) for t in inputs]
    if task.vocab:
        alignment = plan.alignment
        inputs[:] = align_rows(inputs, [alignment.permutations[s.model] for s in task.sources], alignment.rows,
                               task.base_index, alignment.real_rows)
    rng = _rng(plan.seed, task.name) if plan.method.randomized else None
    with use_tie_order(plan.tie_order):
        merged = plan.method.apply(inputs, task.base_index, task.shared, task.per_input, rng)
    inputs.clear()
    merged = merged.to(SAFETENSORS_DTYPES[task.dtype])
    if not _finite(merged):
        raise MergeError(f"tensor {task.name} has NaN or Inf values after the {plan.method.name} merge; check the "
                         "inputs for NaN/Inf and the parameters (weights summing to zero, extreme lambda)")
    return merged


def _finite(tensor: torch.Tensor) -> bool:
    """NaN and Inf propagate through a sum, so a finite float32 sum proves every entry finite at the cost of one
    read (no boolean tensor); only a non-finite sum needs the entry-wise check (it may be mere overflow)."""
    if bool(torch.isfinite(tensor.sum(dtype=torch.float32))):
        return True
    return bool(torch.isfinite(tensor).all())


def _agreed_buffer(task: TensorTask, inputs: list[torch.Tensor]) -> torch.Tensor:
    first = inputs[0]
    if any(t.dtype != first.dtype or not torch.equal(t, first) for t in inputs[1:]):
        raise MergeError(f"integer tensor {task.name} differs between the models; it cannot be averaged, so make "
                         "the models agree on it first")
    return first


def _rng(seed: int, name: str):
    """A random generator per tensor: results do not depend on the order tensors are merged in (or resuming)."""
    import numpy as np

    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _write_side_files(plan: MergePlan, work: Path, copy_tokenizer: bool) -> None:
    import json

    if len(plan.shards) > 1:
        atomic_write_text(work / "model.safetensors.index.json",
                          index_json({s.file: plan.slots(s) for s in plan.shards}))
    atomic_write_text(work / "config.json", json.dumps(plan.out_config, indent=2) + "\n")
    donor = plan.models[plan.donor].folder
    if (donor / "generation_config.json").is_file():
        shutil.copyfile(donor / "generation_config.json", work / "generation_config.json")
    if copy_tokenizer and plan.tokenizer_folder is not None:
        for name in TOKENIZER_FILES:
            if plan.union is not None and name == "tokenizer.model":
                continue  # a sentencepiece model would not hold the union's tokens; tokenizer.json does
            if (plan.tokenizer_folder / name).is_file():
                shutil.copyfile(plan.tokenizer_folder / name, work / name)
        for name, text in (plan.union.files if plan.union is not None else {}).items():
            atomic_write_text(work / name, text)
        _set_chat_template(plan, work)
    atomic_write_text(work / "mergekit_config.yml", plan.config.to_yaml())
    atomic_write_text(work / "README.md", _model_card(plan))


def _set_chat_template(plan: MergePlan, work: Path) -> None:
    from .templates import chosen_template, install_template

    template = chosen_template(plan.config.chat_template, [m.folder for m in plan.models.values()])
    if template:
        install_template(work, template)


def _model_card(plan: MergePlan) -> str:
    bases = "\n".join(f"- {key}" for key in plan.models)
    return (f"---\nlibrary_name: transformers\ntags:\n- merge\n- llmopt\n---\n# Merged model\n\n"
            f"Merged with `llmopt merge` using the **{plan.method.name}** method ({plan.method.description}).\n\n"
            f"## Models\n{bases}\n\n## Configuration\n\n```yaml\n{plan.config.to_yaml()}```\n")
