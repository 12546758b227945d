"""CTMC benchmark: the paper's approximate likelihood gradient against exact ones as the items grow.

Gotovos et al. (NeurIPS 2021) fit continuous-time Markov chains over sets of items with a gradient that is
an expectation over the orderings of each observed set (Eq. 7): exact dynamic programming for sets of
fewer than 8 items, Metropolis–Hastings over orderings (50 samples) above. Two exact baselines:

- per-set DP: the log-likelihood of each set by dynamic programming over its subsets (`relml` shares the
  subsets of all sets in one lattice), O(Σ_S 2^|S| n): exponential in the set size;
- full state space: the distribution over all 2^n sets of the ground set (what Mutual Hazard Networks
  compute exactly), O(2^n n): exponential in the number of items.

Each problem has n items and `--sets` uniformly random sets of n/4 items under θ = diag(−2); one gradient
of the mean log-likelihood is timed (best of `--repeats`). Ratios are baseline time / approximate time.

    .venv/bin/python benchmarks/ctmc.py                       # default sizes (a few minutes on one core)
    .venv/bin/python benchmarks/ctmc.py --items 8 16 32 --sets 20
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path

import torch

from relml.dynamics import ctmc
from relml.runtime import best_time, set_threads

RESULTS = Path(__file__).resolve().parent / "results"


def run(items: Sequence[int], n_sets: int, set_fraction: float, exact_max_size: int, full_max_items: int,
        repeats: int, seed: int) -> list[dict]:
    """One row per number of items: seconds per gradient for the three methods (None where skipped)."""
    rows = []
    gen = torch.Generator().manual_seed(seed)
    for n in items:
        s = max(1, round(set_fraction * n))
        theta = torch.diag(torch.full((n,), -2.0, dtype=ctmc.DTYPE))
        sets = torch.rand(n_sets, n, generator=gen, dtype=ctmc.DTYPE).argsort(1)[:, :s].tolist()
        data = ctmc.prepare_sets([sets], n)
        approx = best_time(lambda t=theta, d=data: ctmc.approx_gradient(t, d, generator=gen), repeats)
        per_set = None
        if s <= exact_max_size:
            data.lattice()  # built once, as in a fit; the gradient is what is timed
            per_set = best_time(lambda t=theta, d=data: ctmc.exact_gradient(t, d), repeats)
        full = None
        if n <= full_max_items:
            # the data plus the whole ground set at negligible weight: the lattice is all 2^n sets
            everything = ctmc.prepare_sets([sets + [list(range(n))]], n, counts=[[1.0] * n_sets + [1e-300]])
            everything.lattice()
            full = best_time(lambda t=theta, d=everything: ctmc.exact_gradient(t, d), repeats)
        rows.append({"n_items": n, "set_size": s, "n_sets": n_sets, "approx_s": approx,
                     "per_set_dp_s": per_set, "full_state_s": full,
                     "per_set_ratio": None if per_set is None else per_set / approx,
                     "full_ratio": None if full is None else full / approx})
        print(f"  n={n:4d} |S|={s:3d}: approx {approx:.3g}s, per-set DP "
              f"{'—' if per_set is None else f'{per_set:.3g}s'}, 2^n states "
              f"{'—' if full is None else f'{full:.3g}s'}", flush=True)
    return rows


def fmt(v: float | None, unit: str = "") -> str:
    return "—" if v is None else f"{v:.3g}{unit}"


def write(rows: list[dict], args: argparse.Namespace, threads: int) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"date": datetime.date.today().isoformat(), "threads": threads, "machine": platform.machine(),
            "torch": torch.__version__, "sets": args.sets, "set_fraction": args.set_fraction,
            "repeats": args.repeats, "mh_samples": 50, "exact_below": ctmc.EXACT_BELOW,
            "load_average": os.getloadavg()[0]}
    (RESULTS / "ctmc.json").write_text(json.dumps({"meta": meta, "gradient_time": rows}, indent=2) + "\n")
    lines = [
        "# CTMC benchmark: approximate vs exact likelihood gradients",
        "",
        "Written by `benchmarks/ctmc.py` (CPU, torch float64). Gotovos et al. (NeurIPS 2021): the "
        "gradient of a set's log-likelihood is an expectation over its orderings (Eq. 7); the "
        f"approximate method uses exact DP below {ctmc.EXACT_BELOW} items and Metropolis–Hastings over "
        "orderings (50 samples, the paper's proposal) above. Baselines: the per-set DP over each set's "
        "subsets (O(Σ 2^|S| n)) and the full state space of all 2^n sets (what Mutual Hazard Networks "
        "compute exactly).",
        "",
        f"{args.sets} uniformly random sets of n/4 items per problem, θ = diag(−2); seconds per gradient "
        f"of the mean log-likelihood, best of {args.repeats}. Ratio = baseline time / approximate time.",
        "",
        "| items n | set size | approximate s | per-set DP s | ratio | 2^n states s | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['n_items']} | {r['set_size']} | {fmt(r['approx_s'])} | "
                     f"{fmt(r['per_set_dp_s'])} | {fmt(r['per_set_ratio'], 'x')} | "
                     f"{fmt(r['full_state_s'])} | {fmt(r['full_ratio'], 'x')} |")
    lines += [
        "",
        "— : not run (per-set DP above the set-size limit, full state space above the item limit; both "
        "double with every item). The approximate cost grows with samples × |S| × n per set.",
        "",
        f"_{meta['date']}, {threads} thread(s), {meta['machine']}, torch {meta['torch']}, load average "
        f"{meta['load_average']:.1f} when written (a shared machine: single timings can be off by 2x)_",
        "",
    ]
    (RESULTS / "ctmc.md").write_text("\n".join(lines))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, nargs="+",
                        default=[8, 12, 16, 18, 20, 24, 32, 40, 48, 56, 64, 128, 256, 512])
    parser.add_argument("--sets", type=int, default=50, help="random sets per problem")
    parser.add_argument("--set-fraction", type=float, default=0.25, help="set size as a fraction of n")
    parser.add_argument("--exact-max-size", type=int, default=14, help="largest set given to the per-set DP")
    parser.add_argument("--full-max-items", type=int, default=18, help="largest n for the 2^n state space")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    threads = set_threads(args.threads)
    print(f"CTMC gradient timing ({threads} thread(s))", flush=True)
    rows = run(args.items, args.sets, args.set_fraction, args.exact_max_size, args.full_max_items,
               args.repeats, args.seed)
    write(rows, args, threads)
    print(f"wrote {RESULTS / 'ctmc.md'} and {RESULTS / 'ctmc.json'}")


if __name__ == "__main__":
    main()
