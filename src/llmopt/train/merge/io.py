"""Safetensors I/O for streaming merges: read one tensor at a time, write shards whose layout is planned ahead.

Reading hands out views of a memory map for tensors the merge only reads, and recycled buffers for tensors it
overwrites; because touched pages of a map stay in the process's resident set, each tensor's pages are dropped
again once its output is written (a plain mapped read of three 500 MB models would cost 1.5 GB of RSS; this
costs the tensors in flight). Writing needs no buffering either: the plan knows every output tensor's name, dtype and shape, so
each shard's header is written first and tensors are appended as they are merged.
"""

from __future__ import annotations

import collections
import json
import mmap
import os
import re
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from ...errors import ConfigError, InputError

SAFETENSORS_DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool, "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
}
DTYPE_CODES = {dtype: code for code, dtype in SAFETENSORS_DTYPES.items()}
INDEX_NAME = "model.safetensors.index.json"
SINGLE_NAME = "model.safetensors"


@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor lives: file, dtype (safetensors code), shape and absolute byte range."""

    file: Path
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start

    @property
    def torch_dtype(self) -> torch.dtype:
        return SAFETENSORS_DTYPES[self.dtype]


def read_json(path: Path, what: str = "a JSON object") -> dict:
    """A JSON object from a model folder's file, or one InputError naming the file and the fix."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: bad JSON or not UTF-8
        raise InputError(f"{path} is not readable JSON ({_one_line(exc)}); re-download or re-save it") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} should hold {what}, not a JSON {type(data).__name__}; re-download or re-save it")
    return data


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def read_header(path: Path) -> dict[str, TensorInfo]:
    """The tensors of one safetensors file, from its JSON header (no tensor data is read). A file that breaks
    the format (8-byte header length, JSON header, one entry per tensor) is an InputError naming it."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > min(100_000_000, size - 8):
                raise ValueError(f"header length {length} runs past the end of the {size}-byte file")
            header = json.loads(handle.read(length))
    except (OSError, ValueError, struct.error) as exc:
        raise InputError(f"{path} is not a readable safetensors file ({_one_line(exc)}); re-download or re-save "
                         "it") from None
    if not isinstance(header, dict):
        raise InputError(f"{path} is not a safetensors file (its header is not a JSON object); re-download it")
    header.pop("__metadata__", None)
    data_start = 8 + length
    tensors = {}
    for name, entry in header.items():
        begin, end, dtype, shape = _entry(path, name, entry)
        if data_start + end > size:
            raise InputError(f"{path} is truncated (tensor {name} ends past the end of the file); re-download it")
        tensors[name] = TensorInfo(path, dtype, shape, data_start + begin, data_start + end)
    return tensors


def _entry(path: Path, name: str, entry: object) -> tuple[int, int, str, tuple[int, ...]]:
    """One header entry, checked: {"dtype": code, "shape": [dims], "data_offsets": [begin, end]} with
    end - begin the bytes that dtype and shape take."""
    def bad(why: str) -> InputError:
        return InputError(f"{path}: tensor {name} {why}; the file is damaged, re-download or re-save it")

    if not isinstance(entry, dict):
        raise bad("has no dtype, shape and data_offsets")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str):
        raise bad(f"has dtype {dtype!r}, not a dtype code such as F32")
    if dtype not in SAFETENSORS_DTYPES:
        raise InputError(f"{path}: tensor {name} has dtype {dtype}, which llmopt cannot merge (it merges "
                         f"{', '.join(SAFETENSORS_DTYPES)})")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise bad(f"has shape {shape!r}, not a list of sizes")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
            and 0 <= offsets[0] <= offsets[1]):
        raise bad(f"has data_offsets {offsets!r}, not [begin, end]")
    count = 1
    for dim in shape:
        count *= dim
    if count * SAFETENSORS_DTYPES[dtype].itemsize != offsets[1] - offsets[0]:
        raise bad(f"takes {offsets[1] - offsets[0]} bytes, but {dtype} of shape {shape} takes "
                  f"{count * SAFETENSORS_DTYPES[dtype].itemsize}")
    return offsets[0], offsets[1], dtype, tuple(shape)


def index_folder(folder: Path) -> dict[str, TensorInfo]:
    """Every tensor of an HF model folder: a sharded `*.index.json` checkpoint, one model.safetensors, or any
    other *.safetensors files in it."""
    folder = Path(folder)
    if (folder / INDEX_NAME).is_file():
        files = _index_shards(folder / INDEX_NAME)
    elif (folder / SINGLE_NAME).is_file():
        files = [folder / SINGLE_NAME]
    else:
        files = sorted(folder.glob("*.safetensors"))
    if not files:
        if list(folder.glob("*.bin")) or list(folder.glob("*.pt")):
            raise InputError(f"{folder} holds pickled weights (*.bin); convert them to safetensors first "
                             "(load with transformers and save_pretrained(..., safe_serialization=True))")
        raise InputError(f"{folder} has no *.safetensors weights; pass an HF model folder")
    tensors: dict[str, TensorInfo] = {}
    for file in files:
        if not file.is_file():
            raise InputError(f"{folder}: shard {file.name} named in {INDEX_NAME} is missing; re-download the model")
        for name, info in read_header(file).items():
            if name in tensors:
                raise InputError(f"{folder}: tensor {name} appears in two shards; the checkpoint is inconsistent")
            tensors[name] = info
    return tensors


def read_torch_tensors(folder: Path):
    """(name, torch tensor) pairs of an HF model folder, one safetensors file at a time, after index_folder has
    checked every header and shard index (a malformed file is one InputError naming it)."""
    from safetensors import safe_open

    for file in sorted({info.file for info in index_folder(folder).values()}):
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():
                yield key, handle.get_tensor(key)


def _index_shards(index: Path) -> list[Path]:
    """The shard files a `model.safetensors.index.json` names: plain file names in its own folder."""
    weight_map = read_json(index, 'a "weight_map" of tensor names to shard files').get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise InputError(f'{index} has no "weight_map" of tensor names to shard files; re-download the model')
    names = set(weight_map.values())
    bad = next((n for n in names if not isinstance(n, str) or not n or Path(n).name != n or n in (".", "..")), None)
    if bad is not None or not names:
        raise InputError(f"{index} names shard {bad!r}, which is not a file name in its folder; re-download the "
                         "model")
    return sorted(index.parent / name for name in names)


class TensorReader:
    """Reads tensors from safetensors files, in one of two ways.

    A tensor the merge only reads is a view of a private memory map of its file: nothing is copied. A tensor
    the merge overwrites (merging in place) is read into a buffer from a pool of recycled buffers: tensors of
    one shape recur in every layer, and writing to recycled memory costs no page faults, where fresh memory
    or copy-on-write pages fault on every 4 KB. `release(info)`, called once the output that used the tensor
    is written, returns its buffer to the pool or drops its mapped pages (resident file pages count towards
    the process's memory like any other). Tensors in `private` (read for more than one output) and unaligned
    ones are always copied."""

    def __init__(self, private: set[TensorInfo] | None = None, mapped: bool = True, pooled: int = 6) -> None:
        self._fds: dict[Path, int] = {}
        self._maps: dict[Path, mmap.mmap] = {}
        self._private = private or set()
        self._mapped = mapped
        self._pool: dict[int, list[torch.Tensor]] = {}  # nbytes -> idle buffers
        self._lent: dict[TensorInfo, collections.deque] = {}  # buffers in use, oldest first
        self._pooled = pooled  # idle buffers kept per size
        self._lock = threading.Lock()  # reads and releases come from different threads

    def read(self, info: TensorInfo, writable: bool = False) -> torch.Tensor:
        """The tensor; writable when the caller will overwrite it."""
        itemsize = info.torch_dtype.itemsize
        aligned = info.nbytes and info.start % itemsize == 0
        if self._mapped and aligned and not writable and info not in self._private:
            view = torch.frombuffer(self._map(info.file), dtype=info.torch_dtype, count=info.nbytes // itemsize,
                                    offset=info.start)
            self._advise(info, _MADV_POPULATE_READ)  # fault the pages in here, in the reading thread
            return view.reshape(info.shape)
        buffer = self._buffer(info)
        self._fill(buffer, info)
        return buffer.view(info.torch_dtype).reshape(info.shape)

    def release(self, info: TensorInfo) -> None:
        """The merge is done with this tensor: recycle its buffer, or drop the pages only it occupies."""
        with self._lock:
            lent = self._lent.get(info)
            buffer = lent.popleft() if lent else None
            if buffer is not None:
                idle = self._pool.setdefault(buffer.numel(), [])
                if len(idle) < self._pooled:
                    idle.append(buffer)
                return
        self._advise(info, mmap.MADV_DONTNEED)

    def _buffer(self, info: TensorInfo) -> torch.Tensor:
        with self._lock:
            idle = self._pool.get(info.nbytes)
            buffer = idle.pop() if idle else torch.empty(info.nbytes, dtype=torch.uint8)
            self._lent.setdefault(info, collections.deque()).append(buffer)
        return buffer

    def _advise(self, info: TensorInfo, advice: int) -> None:
        if info.file not in self._maps:
            return
        start = -(-info.start // mmap.PAGESIZE) * mmap.PAGESIZE  # whole pages only: neighbours keep theirs
        stop = info.end // mmap.PAGESIZE * mmap.PAGESIZE
        if stop > start:
            try:
                self._maps[info.file].madvise(advice, start, stop - start)
            except OSError:  # an advice this kernel does not know (populate needs Linux 5.14)
                pass

    def _fd(self, file: Path) -> int:
        fd = self._fds.get(file)
        if fd is None:
            fd = self._fds[file] = os.open(file, os.O_RDONLY)
        return fd

    def _map(self, file: Path) -> mmap.mmap:
        mapped = self._maps.get(file)
        if mapped is None:
            mapped = self._maps[file] = mmap.mmap(self._fd(file), 0, flags=mmap.MAP_PRIVATE,
                                                  prot=mmap.PROT_READ | mmap.PROT_WRITE)
        return mapped

    def _fill(self, buffer: torch.Tensor, info: TensorInfo) -> None:
        view = memoryview(buffer.numpy())
        done = 0
        while done < info.nbytes:
            got = os.preadv(self._fd(info.file), [view[done:]], info.start + done)
            if got <= 0:
                raise InputError(f"{info.file} ended early while reading a tensor; re-download the model")
            done += got

    def close(self) -> None:
        for mapped in self._maps.values():
            try:
                mapped.close()
            except BufferError:  # a tensor still views it: the map closes when that tensor goes
                pass
        self._maps.clear()
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __enter__(self) -> "TensorReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_MADV_POPULATE_READ = getattr(mmap, "MADV_POPULATE_READ", 22)  # Linux 5.14, absent from Python 3.11


@dataclass(frozen=True)
class TensorSlot:
    """One tensor's place in an output shard."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count * SAFETENSORS_DTYPES[self.dtype].itemsize


class ShardWriter:
    """Writes one safetensors file: header first (the layout is known), then each tensor in order, into
    `<name>.partial`, renamed to its final name only once complete. With durable, the data is flushed to disk
    before the rename (survives a power loss, not only a killed process; slower)."""

    def __init__(self, path: Path, slots: list[TensorSlot], durable: bool = False):
        self.path = Path(path)
        self.slots = slots
        self.durable = durable
        self._next = 0
        header: dict[str, object] = {"__metadata__": {"format": "pt"}}
        offset = 0
        for slot in slots:
            header[slot.name] = {"dtype": slot.dtype, "shape": list(slot.shape), "data_offsets": [offset, offset + slot.nbytes]}
            offset += slot.nbytes
        encoded = json.dumps(header, separators=(",", ":")).encode()
        encoded += b" " * (-len(encoded) % 8)  # data starts 8-byte aligned, as the reference writer does
        self._partial = self.path.with_name(self.path.name + ".partial")
        self._handle = open(self._partial, "wb")
        self._handle.write(struct.pack("<Q", len(encoded)) + encoded)

    def write(self, name: str, tensor: torch.Tensor) -> None:
        slot = self.slots[self._next]
        if name != slot.name or DTYPE_CODES.get(tensor.dtype) != slot.dtype or tuple(tensor.shape) != slot.shape:
            raise RuntimeError(f"shard {self.path.name}: expected {slot}, got {name} {tensor.dtype} {tuple(tensor.shape)}")
        data = tensor.detach().contiguous().reshape(-1).view(torch.uint8).numpy()
        self._handle.write(memoryview(data))
        self._next += 1

    def close(self) -> None:
        if self._next != len(self.slots):
            raise RuntimeError(f"shard {self.path.name}: {len(self.slots) - self._next} tensors were not written")
        self._handle.flush()
        if self.durable:
            os.fsync(self._handle.fileno())
        self._handle.close()
        os.replace(self._partial, self.path)

    def abort(self) -> None:
        self._handle.close()
        self._partial.unlink(missing_ok=True)


def shard_names(count: int) -> list[str]:
    """HF shard file names for `count` shards."""
    if count == 1:
        return [SINGLE_NAME]
    return [f"model-{i:05d}-of-{count:05d}.safetensors" for i in range(1, count + 1)]


def index_json(shards: dict[str, list[TensorSlot]]) -> str:
    """The HF `model.safetensors.index.json` of a sharded checkpoint."""
    total = sum(slot.nbytes for slots in shards.values() for slot in slots)
    weight_map = {slot.name: file for file, slots in shards.items() for slot in slots}
    return json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n"


_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([KMGT]?I?B?)\s*$", re.IGNORECASE)


def parse_size(value: str | int) -> int:
    """Bytes from "5GB" (decimal, as HF's max_shard_size), "4GiB" (binary) or an integer."""
    if isinstance(value, int):
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise ConfigError(f"cannot read size {value!r} (--max-shard-size); write it like 5GB, 500MB or 2GiB")
    number, unit = float(match.group(1)), match.group(2).upper()
    powers = {"": 0, "B": 0, "K": 1, "M": 2, "G": 3, "T": 4}
    base = 1024 if "I" in unit else 1000
    return int(number * base ** powers[unit.replace("I", "").replace("B", "") or ""])
