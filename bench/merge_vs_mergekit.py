"""llmopt merge vs mergekit, side by side: the same YAML (bench/merge_configs/<method>.yaml) through both CLIs on
three fp32 SmolLM2-135M-shaped models (the embedded SmolLM2-135M converted to safetensors, plus two seeded
Gaussian perturbations of it, one of them sharded), every output tensor compared, wall time and peak RSS of
each command measured with /usr/bin/time -v.

    .venv/bin/python bench/merge_vs_mergekit.py                      # every method (~10 min on 2 busy cores)
    .venv/bin/python bench/merge_vs_mergekit.py --methods linear ties
    .venv/bin/python bench/merge_vs_mergekit.py --quick              # tiny 30-layer models, to check the script
    .venv/bin/python bench/merge_vs_mergekit.py --mergekit-threads 1  # only mergekit's single-thread run

mergekit runs once per --mergekit-threads setting (default: torch's default threads, then 1 thread, `-j 1`) and
the faster run is the reference: on a busy machine its two OpenMP threads wait on each other and one thread is
much faster, so comparing against the default alone would flatter llmopt. llmopt runs with its default (one
compute thread plus a reader thread).

One JSON line per method goes to bench/results/merge_vs_mergekit[_quick].jsonl; a rerun skips finished methods
(--force redoes them). mergekit is installed into a cached throwaway environment (.llmopt/mergekit-venv).
Targets: max |ours - mergekit| <= 1e-5 (DARE: statistics, its masks are random), time and RSS <= 0.5x.
--tie-order mergekit runs llmopt with `--tie-order mergekit` (bit-identical TIES/breadcrumbs; see
llmopt/train/merge/methods/sparsify.py); rows record the tie order they were measured with.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "bench" / "merge_configs"
RESULTS = ROOT / "bench" / "results"
METHODS = ["linear", "slerp", "task_arithmetic", "ties", "breadcrumbs", "model_stock", "dare_ties", "dare_linear",
           "passthrough", "della", "della_linear", "breadcrumbs_ties", "sce", "nuslerp", "multislerp", "karcher",
           "nearswap", "arcee_fusion"]
RANDOM = {"dare_ties", "dare_linear", "della", "della_linear"}
TOLERANCE = 1e-5
NOISE = 0.05  # perturbation std, relative to each tensor's std: enough to take SLERP off its linear fallback


def main() -> None:
    args = _parse()
    sys.path.insert(0, str(ROOT / "src"))
    from llmopt.train.merge.mergekit_ref import ensure_mergekit

    work = ROOT / "bench" / ".cache" / ("merge-quick" if args.quick else "merge")
    models = _prepare_models(work / "models", args.quick)
    python = ensure_mergekit(ROOT / ".llmopt" / "mergekit-venv", ROOT / "constraints.txt")
    results_path = RESULTS / ("merge_vs_mergekit_quick.jsonl" if args.quick else "merge_vs_mergekit.jsonl")
    done = _finished(results_path) if not args.force else set()
    for method in args.methods:
        if (method, args.tie_order) in done:
            print(f"{method} ({args.tie_order}): done earlier, skipped (--force to redo)", file=sys.stderr)
            continue
        row = _bench(method, models, python.parent, work, args.mergekit_threads, args.repeat, args.tie_order)
        results_path.parent.mkdir(parents=True, exist_ok=True)
        with open(results_path, "a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(_line(row), file=sys.stderr)
    print(_table(results_path))


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--quick", action="store_true", help="tiny random models instead of SmolLM2-135M")
    parser.add_argument("--force", action="store_true", help="redo methods already in the results file")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool and setting; the fastest counts "
                        "(a busy machine makes single timings noisy)")
    parser.add_argument("--tie-order", default="position", choices=["position", "mergekit"],
                        help="llmopt merge --tie-order: 'mergekit' keeps the same entries as mergekit where equal "
                             "magnitudes straddle a TIES/breadcrumbs cut (bit-identical output, slower)")
    parser.add_argument("--mergekit-threads", nargs="+", default=["default", "1"],
                        help="mergekit thread settings to run ('default' or a number); the fastest is the reference")
    return parser.parse_args()


def _prepare_models(folder: Path, quick: bool) -> Path:
    """base, v1 (sharded) and v2 under folder, made once."""
    if (folder / "v2" / "config.json").is_file():
        return folder
    from llmopt.testing import make_tiny_llama

    base = folder / "base"
    if quick:
        make_tiny_llama(base, seed=0, layers=30, tie_word_embeddings=True)
    else:
        from llmopt.models.hf import converted_folder

        shutil.copytree(converted_folder("smollm2-135m"), base, dirs_exist_ok=True)
    _perturb(base, folder / "v1", seed=1, shards=4)
    _perturb(base, folder / "v2", seed=2, shards=1)
    return folder


def _perturb(base: Path, target: Path, seed: int, shards: int) -> None:
    """A seeded variant of base: every floating tensor plus Gaussian noise of NOISE x its own std."""
    from safetensors.torch import load_file, save_file

    tensors = load_file(base / "model.safetensors")
    generator = torch.Generator().manual_seed(seed)
    for name, tensor in tensors.items():
        scale = NOISE * (tensor.std().item() if tensor.numel() > 1 else 1.0)
        tensors[name] = tensor + torch.randn(tensor.shape, generator=generator) * scale
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(base, tmp, ignore=shutil.ignore_patterns("*.safetensors"))
    names = list(tensors)
    groups = [names[i::shards] for i in range(shards)]
    files = ["model.safetensors"] if shards == 1 else [f"model-{i + 1:05d}-of-{shards:05d}.safetensors" for i in range(shards)]
    for file, group in zip(files, groups):
        save_file({n: tensors[n] for n in group}, tmp / file, metadata={"format": "pt"})
    if shards > 1:
        index = {"metadata": {"total_size": sum(t.numel() * t.element_size() for t in tensors.values())},
                 "weight_map": {n: f for f, g in zip(files, groups) for n in g}}
        (tmp / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    os.replace(tmp, target)


def _bench(method: str, models: Path, mergekit_bin: Path, work: Path, thread_settings: list[str],
           repeat: int = 1, tie_order: str = "position") -> dict:
    config = CONFIGS / f"{method}.yaml"
    outputs = work / "outputs"
    theirs, ours = outputs / f"mergekit-{method}", outputs / f"llmopt-{method}"
    runs = {}
    for threads in thread_settings:
        extra = [] if threads == "default" else ["-j", threads]
        runs[threads] = _fastest(repeat, theirs, models, [str(mergekit_bin / "mergekit-yaml"), str(config), str(theirs),
                                                          "--no-write-model-card", "--quiet", "--random-seed", "0", *extra])
    best = min(runs, key=lambda t: runs[t]["wall_s"])
    mk = {**runs[best], "threads": best, "runs": runs}
    llm = _fastest(repeat, ours, models, [str(Path(sys.executable).parent / "llmopt"), "merge", str(config), "--out",
                                          str(ours), "--seed", "0", "--json", "--tie-order", tie_order])
    check = _dare_stats(ours, theirs, models / "base") if method in RANDOM else _exact(ours, theirs, config, models)
    row = {"method": method, "tie_order": tie_order, "mergekit": mk, "llmopt": llm, "time_ratio": round(llm["wall_s"] / mk["wall_s"], 3),
           "rss_ratio": round(llm["max_rss_mb"] / mk["max_rss_mb"], 3), "equivalence": check,
           "date": datetime.date.today().isoformat(), "machine": "2-core CPU (shared), 24 GiB, no GPU",
           "load_average": os.getloadavg()[0]}
    row["pass"] = bool(check["pass"] and row["time_ratio"] <= 0.5 and row["rss_ratio"] <= 0.5)
    row["pass_up_to_ties"] = bool(check.get("pass_up_to_ties", check["pass"]) and row["time_ratio"] <= 0.5
                                  and row["rss_ratio"] <= 0.5)
    shutil.rmtree(theirs, ignore_errors=True)
    shutil.rmtree(ours, ignore_errors=True)
    return row


def _fastest(repeat: int, out: Path, models: Path, command: list[str]) -> dict:
    """The fastest of `repeat` runs (the output of the last one is kept for the comparison)."""
    runs = []
    for _ in range(repeat):
        shutil.rmtree(out, ignore_errors=True)
        _warm(models)
        runs.append(_timed(command, cwd=models))
    best = min(runs, key=lambda r: r["wall_s"])
    return {**best, "walls": [r["wall_s"] for r in runs]} if repeat > 1 else best


def _warm(models: Path) -> None:
    """Read every input file once so that neither tool pays for cold disk reads."""
    for file in models.rglob("*.safetensors"):
        with open(file, "rb") as handle:
            while handle.read(1 << 24):
                pass


_TIME_FIELDS = {"wall": re.compile(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)"),
                "rss": re.compile(r"Maximum resident set size \(kbytes\): (\d+)"),
                "user": re.compile(r"User time \(seconds\): ([\d.]+)"),
                "sys": re.compile(r"System time \(seconds\): ([\d.]+)")}


def _timed(command: list[str], cwd: Path) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(["/usr/bin/time", "-v", *command], cwd=cwd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:2])} failed:\n{done.stderr[-3000:]}")
    wall = _TIME_FIELDS["wall"].search(done.stderr)
    hours, minutes, seconds = int(wall.group(1) or 0), int(wall.group(2)), float(wall.group(3))
    rss_kb = int(_TIME_FIELDS["rss"].search(done.stderr).group(1))
    cpu = sum(float(_TIME_FIELDS[k].search(done.stderr).group(1)) for k in ("user", "sys"))
    return {"wall_s": round(hours * 3600 + minutes * 60 + seconds, 2), "cpu_s": round(cpu, 2),
            "max_rss_mb": round(rss_kb / 1024, 1)}


def _exact(ours: Path, theirs: Path, config: Path, models: Path) -> dict:
    from llmopt.train.merge.mergekit_ref import compare

    result = compare(ours, theirs, tied=True)
    result["pass"] = (result["max_abs_diff"] <= TOLERANCE and not result["only_ours"] and not result["only_theirs"]
                      and not result["shape_mismatch"])
    if result["max_abs_diff"] > TOLERANCE and config.stem in TRIMMED | SAMPLED:
        check = _threshold_ties if config.stem in TRIMMED else _sampled_thresholds
        result["ties"] = check(ours, theirs, config, models)
        result["pass_up_to_ties"] = result["ties"]["max_abs_diff_elsewhere"] <= TOLERANCE
    return result


TRIMMED = {"ties", "breadcrumbs", "breadcrumbs_ties", "sce"}  # top-k cuts (sce: of the variance across models)
SAMPLED = {"arcee_fusion"}  # thresholds estimated on a random sample of tensors above this many entries:
SAMPLE_ABOVE = 1_000_000  # both tools draw the sample, from different generators


def _sampled_thresholds(ours: Path, theirs: Path, config: Path, models: Path) -> dict:
    """Where arcee_fusion outputs differ, is it only in tensors whose threshold both tools estimate on a random
    sample (so the entries between the two estimates are taken by one tool only)? Same keys as _threshold_ties."""
    from llmopt.train.merge.mergekit_ref import load_tensors

    a, b = load_tensors(ours), load_tensors(theirs)
    count, sampled, elsewhere = 0, 0.0, 0.0
    for name, tensor in a.items():
        gap = (tensor - b[name]).abs()
        if tensor.numel() > SAMPLE_ABOVE:
            count += int(torch.count_nonzero(gap))
            sampled = max(sampled, _largest(gap))
        else:
            elsewhere = max(elsewhere, _largest(gap))
    return {"entries_at_threshold_ties": count, "max_abs_diff_at_ties": sampled, "max_abs_diff_elsewhere": elsewhere}


def _threshold_ties(ours: Path, theirs: Path, config: Path, models: Path) -> dict:
    """Where TIES/breadcrumbs outputs differ, is it only at entries whose magnitude equals a trim threshold?
    Such ties have no natural order: llmopt breaks them by position, mergekit by torch's (unstable) sort."""
    import yaml

    from llmopt.train.merge.mergekit_ref import load_tensors

    spec = yaml.safe_load(config.read_text())
    a, b, base = load_tensors(ours), load_tensors(theirs), load_tensors(models / spec["base_model"])
    inputs = [(load_tensors(models / m["model"]), m.get("parameters") or {}) for m in spec["models"]
              if m["model"] != spec["base_model"]]
    tied = elsewhere = 0.0
    count = 0
    for name, tensor in a.items():
        differ = (tensor != b[name]).reshape(-1)
        if not bool(differ.any()):
            continue
        at_threshold = torch.zeros_like(differ)
        deltas = [(weights[name] - base[name]).reshape(-1) for weights, _ in inputs]
        if spec["merge_method"] == "sce":  # one cut, on the variance of the task vectors across models
            ranked = [(torch.var(torch.stack(deltas), dim=0, unbiased=False), spec.get("parameters") or {})]
        else:
            ranked = [(delta.abs(), params) for delta, (_, params) in zip(deltas, inputs)]
        for magnitude, params in ranked:
            for value in _boundaries(magnitude, spec["merge_method"], params):
                at_threshold |= magnitude == value
        gap = (tensor - b[name]).abs().reshape(-1)
        count += int((differ & at_threshold).sum())
        tied = max(tied, _largest(gap[differ & at_threshold]))
        elsewhere = max(elsewhere, _largest(gap[differ & ~at_threshold]))
    return {"entries_at_threshold_ties": count, "max_abs_diff_at_ties": tied, "max_abs_diff_elsewhere": elsewhere}


def _largest(values: torch.Tensor) -> float:
    return float(values.max()) if values.numel() else 0.0


def _boundaries(magnitude: torch.Tensor, method: str, params: dict) -> list[float]:
    n = magnitude.numel()
    if method == "sce":
        k = int(torch.count_nonzero(magnitude) * params.get("select_topk", 1.0))
        return [torch.kthvalue(magnitude, n - k + 1).values.item()] if 1 <= k < n else []
    if method == "ties":
        k = max(1, int(params["density"] * n))
        return [torch.kthvalue(magnitude, n - k + 1).values.item()]
    kept, top = int(params["density"] * n), int(params.get("gamma", 0.01) * n)
    bottom = max(0, n - kept - top)
    return [torch.kthvalue(magnitude, rank).values.item() for rank in (bottom + 1, bottom + kept) if 1 <= rank <= n]


def _dare_stats(ours: Path, theirs: Path, base: Path) -> dict:
    """DARE's masks are random, so compare what they should share: how many entries move off the base, and
    the L1/L2 size of the merged task vector."""
    from llmopt.train.merge.mergekit_ref import load_tensors

    a, b, w = load_tensors(ours), load_tensors(theirs), load_tensors(base)
    stats = {}
    for label, tensors in (("llmopt", a), ("mergekit", b)):
        changed = l1 = l2 = count = 0.0
        for name, base_tensor in w.items():
            delta = (tensors[name].double() - base_tensor.double())
            changed += float(torch.count_nonzero(delta))
            l1 += float(delta.abs().sum())
            l2 += float((delta ** 2).sum())
            count += delta.numel()
        stats[label] = {"changed_fraction": changed / count, "mean_abs_delta": l1 / count, "rms_delta": (l2 / count) ** 0.5}
    ratio_l1 = stats["llmopt"]["mean_abs_delta"] / stats["mergekit"]["mean_abs_delta"]
    ratio_l2 = stats["llmopt"]["rms_delta"] / stats["mergekit"]["rms_delta"]
    gap = abs(stats["llmopt"]["changed_fraction"] - stats["mergekit"]["changed_fraction"])
    return {**stats, "l1_ratio": ratio_l1, "rms_ratio": ratio_l2, "changed_fraction_gap": gap,
            "pass": abs(ratio_l1 - 1) <= 0.01 and abs(ratio_l2 - 1) <= 0.01 and gap <= 0.01}


def _key(row: dict) -> tuple[str, str]:
    return row["method"], row.get("tie_order", "position")


def _rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _finished(path: Path) -> set[tuple[str, str]]:
    return {_key(row) for row in _rows(path)}


def _line(row: dict) -> str:
    return (f"{row['method']}: mergekit {row['mergekit']['wall_s']} s / {row['mergekit']['max_rss_mb']} MB "
            f"({row['mergekit'].get('threads')} threads), "
            f"llmopt {row['llmopt']['wall_s']} s / {row['llmopt']['max_rss_mb']} MB "
            f"(time x{row['time_ratio']}, RSS x{row['rss_ratio']}), equivalence {'ok' if row['equivalence']['pass'] else 'FAIL'}")


def _table(path: Path) -> str:
    latest = {_key(row): row for row in _rows(path)}  # a --force rerun supersedes earlier rows of the same key
    rows = sorted(latest.values(), key=lambda r: (METHODS.index(r["method"]), r.get("tie_order", "position")))
    lines = ["| method (llmopt tie order) | mergekit s (threads) | llmopt s | time ratio | mergekit RSS MB | llmopt RSS MB | RSS ratio | "
             "equivalence | pass |", "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        eq = row["equivalence"]
        ties = eq.get("ties")
        detail = (f"max abs diff {eq['max_abs_diff']:.1e}" + (
                  f"; {ties['entries_at_threshold_ties']} entries at trim-threshold ties, elsewhere "
                  f"{ties['max_abs_diff_elsewhere']:.1e}" if ties else "") if "max_abs_diff" in eq else
                  f"L1 ratio {eq['l1_ratio']:.4f}, RMS ratio {eq['rms_ratio']:.4f}, changed-fraction gap {eq['changed_fraction_gap']:.4f}")
        lines.append(f"| {row['method']} ({row.get('tie_order', 'position')}) | {row['mergekit']['wall_s']} ({row['mergekit'].get('threads', 'default')}) | "
                     f"{row['llmopt']['wall_s']} | {row['time_ratio']} | "
                     f"{row['mergekit']['max_rss_mb']} | {row['llmopt']['max_rss_mb']} | {row['rss_ratio']} | {detail} | "
                     f"{'yes' if row['pass'] else ('up to ties' if row.get('pass_up_to_ties') else 'NO')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
