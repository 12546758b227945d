"""dtSNE against openTSNE t-SNE, UMAP and densMAP: wall time, peak memory, density and neighbourhood
measures on the same data, in one table.

    python benchmarks/embed.py                               # 2k and 10k Gaussians, pbmc68k, digits
    python benchmarks/embed.py --sizes 2000 10000 50000      # add the 50k set
    python benchmarks/embed.py --threads 2 --out /tmp/embed  # elsewhere, with two threads

Data: `relml.embed.datasets.density_benchmark(n)` (five Gaussians in 10-D, spreads 1…8, sizes
5:4:3:2:1), scanpy's bundled pbmc68k_reduced (700 cells, 50 PCs, bulk labels) and scikit-learn's
digits (1797 × 64). Every (data, method) runs in a fresh worker process with the same thread count
for every library (torch, openTSNE's n_jobs, numba, BLAS); its wall and CPU time cover the fit only
(UMAP and densMAP first fit 300 points, so numba's one-time compilation is not counted) and its memory
is the worker's peak resident set (and that peak minus the resident set just before the fit).
Measures (`relml.embed.metrics`, k = 15): rho_r (log kNN radii), rho_knn, rho (all distances),
knn recall, and the spread of the log cluster-size ratios. Writes <out>.json and <out>.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "embed"
METHODS = ("dtsne", "tsne", "umap", "densmap")
LABELS = {"dtsne": "dtSNE (ours)", "tsne": "t-SNE (openTSNE)", "umap": "UMAP", "densmap": "densMAP"}


def load(name: str):
    """A data set by name: gauss<N>, pbmc or digits."""
    from relml.embed import datasets

    if name.startswith("gauss"):
        return datasets.density_benchmark(int(name[5:]), seed=0)
    return {"pbmc": datasets.pbmc68k_reduced, "digits": datasets.digits}[name]()


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker(method: str, data_name: str, seed: int, threads: int, out: str) -> None:
    """Fit one method on one data set in this process; print time and memory as JSON."""
    import torch

    torch.set_num_threads(threads)
    from relml.embed import baselines
    from relml.embed.dtsne import DTSNE

    x = load(data_name).x
    info = {}
    if method in ("umap", "densmap"):  # compile numba's kernels outside the timed fit
        baselines.umap(np.random.default_rng(0).normal(size=(300, 5)), densmap=method == "densmap",
                       n_jobs=threads)
    base = _rss_mb()
    start, cpu_start = time.perf_counter(), time.process_time()
    if method == "dtsne":
        model = DTSNE(n_jobs=threads, random_state=seed).fit(x)
        y, info["repulsion"] = model.embedding_, model.repulsion_
    elif method == "tsne":
        y = baselines.tsne(x, n_jobs=threads, random_state=seed)
    else:
        y = baselines.umap(x, densmap=method == "densmap", n_jobs=threads, random_state=seed)
    info["wall_s"], info["cpu_s"] = time.perf_counter() - start, time.process_time() - cpu_start
    info["peak_rss_mb"], info["delta_rss_mb"] = _rss_mb(), _rss_mb() - base
    np.save(out, y)
    print(json.dumps(info))


def run(method: str, data_name: str, seed: int, threads: int) -> tuple[dict, np.ndarray]:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads), NUMBA_NUM_THREADS=str(threads),
               RELML_THREADS=str(threads))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "y.npy")
        cmd = [sys.executable, __file__, "--worker", method, data_name, str(seed), str(threads), out]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{method} on {data_name} failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1]), np.load(out)


def score(x: np.ndarray, y: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    from relml.embed.metrics import evaluate

    return {k: round(float(v), 4) for k, v in evaluate(x, y, labels, k=15).items()}


def targets(records: list[dict], threads: int) -> list[str]:
    """The issue's targets, checked on the measured records."""
    lines = []
    by = {(r["data"], r["method"]): r for r in records}
    for data in dict.fromkeys(r["data"] for r in records):
        got = {m: by[(data, m)]["rho_r"] for m in METHODS if (data, m) in by}
        if "dtsne" not in got:
            continue
        beats = all(got["dtsne"] > got[m] for m in ("tsne", "umap") if m in got)
        ties = "densmap" not in got or got["dtsne"] >= got["densmap"]
        nan = float("nan")
        lines.append(f"- {data}: dtSNE rho_r {got['dtsne']:.3f} vs t-SNE {got.get('tsne', nan):.3f}, "
                     f"UMAP {got.get('umap', nan):.3f}, densMAP {got.get('densmap', nan):.3f}: "
                     f"better than t-SNE and UMAP {'yes' if beats else 'NO'}, at least densMAP "
                     f"{'yes' if ties else 'NO'}")
    for data in dict.fromkeys(r["data"] for r in records):
        if (data, "dtsne") in by and (data, "tsne") in by:
            cpu = by[(data, "dtsne")]["cpu_s"] / by[(data, "tsne")]["cpu_s"]
            wall = by[(data, "dtsne")]["wall_s"] / by[(data, "tsne")]["wall_s"]
            lines.append(f"- time dtSNE / openTSNE on {data} ({threads} thread(s) each): CPU {cpu:.2f}x, "
                         f"wall {wall:.2f}x (dtSNE repulsion: {by[(data, 'dtsne')].get('repulsion')})")
    lines.append("- GPU target (dtSNE on a GPU at n = 50k faster than openTSNE on the CPU): not measured, "
                 "no GPU in this environment")
    return lines


def markdown(records: list[dict], header: list[str], threads: int) -> str:
    cols = ["data", "n", "method", "wall_s", "cpu_s", "peak_rss_mb", "delta_rss_mb", "rho_r", "rho_knn",
            "rho", "knn_recall", "size_error"]
    names = ["data", "n", "method", "wall (s)", "CPU (s)", "peak RSS (MB)", "Δ RSS (MB)", "ρ_r (density)",
             "ρ_kNN (local)", "ρ (global)", "kNN recall@15", "cluster-size error"]
    rows = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for r in records:
        cells = [LABELS.get(r[c], r[c]) if c == "method" else
                 (f"{r[c]:.1f}" if c in ("wall_s", "cpu_s", "peak_rss_mb", "delta_rss_mb") else
                  f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c])) for c in cols]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(header + ["", *rows, "", "Targets:", *targets(records, threads), ""])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[2000, 10000])
    parser.add_argument("--real", nargs="*", default=["pbmc", "digits"], choices=["pbmc", "digits"])
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    records = []
    for data_name in [f"gauss{n}" for n in args.sizes] + args.real:
        data = load(data_name)
        for method in args.methods:
            info, y = run(method, data_name, args.seed, args.threads)
            rec = {"data": data_name, "n": int(data.x.shape[0]), "method": method, **info,
                   **score(data.x, y, data.labels)}
            records.append(rec)
            print(json.dumps(rec), flush=True)
    header = [f"# dtSNE benchmark ({args.threads} thread(s) per method, seed {args.seed})", "",
              f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
              f"Python {platform.python_version()}. Time: the fit only, in a fresh process per row; "
              "CPU time is the worker's own (the machine was shared, so wall time carries others' load). "
              "Measures: relml.embed.metrics (k = 15; higher is better except cluster-size error). "
              "densMAP at umap-learn's default density weight (λ = 2)."]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"threads": args.threads, "seed": args.seed,
                                                         "records": records}, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(records, header, args.threads))
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
    else:
        main()
