"""Dynamics benchmarks: message passing against Monte Carlo at matched accuracy.

One function per comparison; `main` runs the chosen ones and writes benchmarks/results/dynamics.md and
benchmarks/results/dynamics.json (each comparison's rows under its own key, so sections written by other
comparisons are kept when only some are re-run).

Cascades (Burkholz & Quackenbush, AAAI 2021): the Independent Cascade Model's cascade size distribution
by Subtree Distribution Propagation (SDP, exact on trees) and the Tree Distribution Approximation (TDA)
against `relml.dynamics.cascades.sample_cascade_sizes` (numpy, a batch of runs advanced one propagation
round at a time). Matched accuracy: Monte Carlo's cost per run is measured, and the number of runs it needs
is the smallest whose *expected* distance to the reference reaches the target (exact for TV from binomial
bin counts; KS by simulating multinomial histograms), so a 10^5-node comparison need not run 10^6 cascades.

    .venv/bin/python benchmarks/dynamics.py                  # all comparisons, default sizes
    .venv/bin/python benchmarks/dynamics.py --only cascades --cascade-sizes 1000 10000
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from relml.dynamics import cascades as cs
from relml.runtime import best_time, set_threads

RESULTS = Path(__file__).resolve().parent / "results"


# ---------------------------------------------------------------------------------------------
# cascades


def _mc_cost(model: cs.Cascade, budget_s: float, seed: int) -> tuple[float, np.ndarray]:
    """Seconds per Monte Carlo run, measured on as many runs as fit in about `budget_s` seconds."""
    start = time.perf_counter()
    sizes = cs.sample_cascade_sizes(model, 50, rng=seed)
    pilot = (time.perf_counter() - start) / 50
    runs = int(np.clip(budget_s / max(pilot, 1e-9), 200, 200_000))
    start = time.perf_counter()
    sizes = cs.sample_cascade_sizes(model, runs, rng=seed + 1)
    return (time.perf_counter() - start) / runs, sizes


def cascades_trees(sizes: Sequence[int], p0: float = 0.05, w: float = 0.6, target: float = 0.01,
                   budget_s: float = 10.0, full_up_to: int = 10_000, seed: int = 0) -> list[dict]:
    """SDP (exact) against Monte Carlo on uniformly random trees: time to TV and to KS `target`."""
    rows = []
    for n in sizes:
        model = cs.independent_cascade(cs.random_tree(n, seed=seed), p0, w)
        exact = cs.tree_distribution(model)
        sdp = best_time(lambda m=model: cs.tree_distribution(m), 3 if n <= 10_000 else 1)
        full = (best_time(lambda m=model: cs.tree_distribution(m, fft="full"), 1)
                if n <= full_up_to else None)
        per_run, sizes_ = _mc_cost(model, budget_s, seed)
        probe = cs.empirical_distribution(sizes_, n)
        runs_tv = cs.trials_for_tv(exact, target)
        runs_ks = cs.trials_for_ks(exact, target)
        rows.append({
            "graph": "random tree", "n": n, "p0": p0, "w": w, "method": "SDP (exact)",
            "mp_seconds": sdp, "mp_full_fft_seconds": full, "mc_seconds_per_run": per_run,
            "probe_runs": int(sizes_.size), "probe_tv": cs.total_variation(probe, exact),
            "probe_expected_tv": float(cs.expected_sampling_tv(exact, sizes_.size)),
            "target": target, "mc_runs_tv": runs_tv, "mc_runs_ks": runs_ks,
            "ratio_tv": runs_tv * per_run / sdp, "ratio_ks": runs_ks * per_run / sdp,
        })
        print(f"  tree n={n}: SDP {sdp:.3g}s, MC {per_run * 1e3:.3g} ms/run, runs for TV {target}: "
              f"{runs_tv:,}, KS {target}: {runs_ks:,}", flush=True)
    return rows


def cascades_near_trees(sizes: Sequence[int], extra: float = 0.05, p0: float = 0.05, w: float = 0.3,
                        reference_s: float = 60.0, seed: int = 0) -> list[dict]:
    """TDA (approximate) against Monte Carlo on near-trees (a random tree plus `extra` random edges per
    tree edge): Monte Carlo's runs to match TDA's own KS and TV distance to a long Monte Carlo reference."""
    rows = []
    for n in sizes:
        graph = cs.tree_with_extra_edges(n, extra, seed=seed)
        model = cs.independent_cascade(graph, p0, w)
        tda = cs.tda_distribution(model)
        seconds = best_time(lambda m=model: cs.tda_distribution(m), 3 if n <= 10_000 else 1)
        per_run, sizes_ = _mc_cost(model, reference_s, seed)
        reference = cs.empirical_distribution(sizes_, model.n)
        tv, ks = cs.total_variation(tda, reference), cs.ks_distance(tda, reference)
        noise_tv = float(cs.expected_sampling_tv(reference, sizes_.size))
        noise_ks = cs.expected_sampling_ks(reference, sizes_.size)
        runs_tv, runs_ks = cs.trials_for_tv(reference, tv), cs.trials_for_ks(reference, ks)
        rows.append({
            "graph": f"near-tree (+{extra:.0%} edges)", "n": n, "p0": p0, "w": w, "method": "TDA",
            "mp_seconds": seconds, "mc_seconds_per_run": per_run, "reference_runs": int(sizes_.size),
            "tda_tv": tv, "tda_ks": ks, "reference_noise_tv": noise_tv, "reference_noise_ks": noise_ks,
            "mc_runs_tv": runs_tv, "mc_runs_ks": runs_ks,
            "ratio_tv": runs_tv * per_run / seconds, "ratio_ks": runs_ks * per_run / seconds,
        })
        print(f"  near-tree n={n}: TDA {seconds:.3g}s, TV {tv:.3f} (noise {noise_tv:.3f}), KS {ks:.3f} "
              f"(noise {noise_ks:.3f}); MC {per_run * 1e3:.3g} ms/run", flush=True)
    return rows


def cascades(sizes: Sequence[int] = (1_000, 10_000, 100_000), near_sizes: Sequence[int] = (1_000, 10_000),
             budget_s: float = 10.0, reference_s: float = 60.0) -> dict:
    """Cascade size distributions: message passing against Monte Carlo at matched accuracy."""
    return {"trees": cascades_trees(sizes, budget_s=budget_s),
            "near_trees": cascades_near_trees(near_sizes, reference_s=reference_s)}


def cascades_markdown(result: dict) -> str:
    lines = [
        "## Cascade size distributions: message passing vs Monte Carlo",
        "",
        "Independent Cascade Model, p0 = 0.05 per node. Monte Carlo cost per run is measured; the runs it "
        "needs are the fewest whose expected distance to the reference reaches the target (TV exactly, "
        "KS by simulated histograms). Ratio = Monte Carlo time at matched accuracy / message-passing time.",
        "",
        "**Trees (SDP is exact, error < 1e-12; Monte Carlo to TV 0.01 or KS 0.01), w = 0.6**",
        "",
        "| n | SDP s | SDP, one FFT length (paper) s | MC ms/run | MC runs, TV 0.01 | ratio | "
        "MC runs, KS 0.01 | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["trees"]:
        full = f"{r['mp_full_fft_seconds']:.3g}" if r["mp_full_fft_seconds"] is not None else "—"
        lines.append(f"| {r['n']:,} | {r['mp_seconds']:.3g} | {full} | {r['mc_seconds_per_run'] * 1e3:.3g} | "
                     f"{r['mc_runs_tv']:,} | {r['ratio_tv']:,.0f}x | {r['mc_runs_ks']:,} | "
                     f"{r['ratio_ks']:,.0f}x |")
    lines += [
        "",
        "**Near-trees (random tree + 5% random extra edges), w = 0.3: TDA against a long Monte Carlo "
        "reference; Monte Carlo runs to match TDA's own distance**",
        "",
        "| n | TDA s | reference runs | TDA TV (ref. noise) | TDA KS (ref. noise) | MC ms/run | "
        "MC runs, TDA's TV | ratio | MC runs, TDA's KS | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["near_trees"]:
        lines.append(f"| {r['n']:,} | {r['mp_seconds']:.3g} | {r['reference_runs']:,} | "
                     f"{r['tda_tv']:.3f} ({r['reference_noise_tv']:.3f}) | {r['tda_ks']:.3f} "
                     f"({r['reference_noise_ks']:.3f}) | {r['mc_seconds_per_run'] * 1e3:.3g} | "
                     f"{r['mc_runs_tv']:,} | {r['ratio_tv']:,.0f}x | {r['mc_runs_ks']:,} | "
                     f"{r['ratio_ks']:,.0f}x |")
    lines += [
        "",
        "Where the reference noise is as large as TDA's distance, the matched accuracy is limited by the "
        "reference and the Monte Carlo run counts (and ratios) are lower bounds.",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# main

def run_cascades(args: argparse.Namespace) -> dict:
    return cascades(args.cascade_sizes, args.cascade_near_sizes, args.cascade_budget, args.cascade_reference)


# name -> (run(parsed args) -> result, markdown(result) -> section); add a comparison by adding a row
COMPARISONS: dict[str, tuple[Callable[[argparse.Namespace], dict], Callable[[dict], str]]] = {
    "cascades": (run_cascades, cascades_markdown),
}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=sorted(COMPARISONS), default=sorted(COMPARISONS))
    parser.add_argument("--cascade-sizes", nargs="+", type=int, default=[1_000, 10_000, 100_000],
                        help="tree sizes (cascades)")
    parser.add_argument("--cascade-near-sizes", nargs="+", type=int, default=[1_000, 10_000],
                        help="near-tree sizes (cascades)")
    parser.add_argument("--cascade-budget", type=float, default=10.0,
                        help="seconds of Monte Carlo per cost probe (cascades)")
    parser.add_argument("--cascade-reference", type=float, default=60.0,
                        help="seconds of Monte Carlo per reference distribution (cascades)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path, md_path = RESULTS / "dynamics.json", RESULTS / "dynamics.md"
    results = json.loads(json_path.read_text()) if json_path.exists() else {}
    for name in args.only:
        run, _ = COMPARISONS[name]
        print(f"{name}:", flush=True)
        results[name] = {"result": run(args), "machine": platform.processor() or platform.machine(),
                         "threads": args.threads, "date": time.strftime("%Y-%m-%d")}
    json_path.write_text(json.dumps(results, indent=1, default=float) + "\n")
    sections = ["# Dynamics benchmarks", "",
                "Written by `benchmarks/dynamics.py` (CPU, numpy; threads as listed per section)."]
    for name, entry in results.items():
        if name in COMPARISONS:
            sections += ["", COMPARISONS[name][1](entry["result"]), "",
                         f"_{entry['date']}, {entry['threads']} thread(s), {entry['machine']}_"]
    md_path.write_text("\n".join(sections) + "\n")
    print("\n".join(sections))


if __name__ == "__main__":
    main()
