"""Iterative pruning with seeds as ensemble members against one run per seed, as a time ratio.

The lottery-ticket notebooks (lrr_signs, sculpt) run every seed of an arm as a member of one
`relml.models.EnsembleMLP` through `relml.sparse.prune_cycles` (stacked pruning, rewinding and metrics per
member). The alternative is what most repositories do: one `MLP` per seed, one `prune_cycles` call each.
Both compute the same thing (elementwise SGD, the same batches); this script times both on LRR and IMP
schedules on sklearn digits for several seed counts and widths and reports the speedup. Each timing is
the fastest of `--repeats` runs (background load only adds time).

    .venv/bin/python benchmarks/sparse.py [--seeds 3 5 10] [--widths 64 256] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Sequence
from pathlib import Path

import torch

from relml.data import digits
from relml.models import MLP, EnsembleMLP
from relml.runtime import best_time, set_threads
from relml.sparse import Cycle, imp_densities, prune_cycles

RESULTS = Path(__file__).resolve().parent / "results"


def compare(seeds: int, width: int, rewind: bool, rounds: int, epochs: int, repeats: int) -> dict:
    """Wall time of one stacked run of `seeds` members against `seeds` separate runs (same schedule)."""
    data = digits()
    cycle, dens = Cycle(epochs=epochs, lr=0.1), imp_densities(rounds, 0.2)
    sizes = [64, width, width, 10]

    def stacked() -> None:
        ens = EnsembleMLP(sizes, seeds, generator=torch.Generator().manual_seed(0))
        prune_cycles(ens, data.train, cycle, dens, rewind=rewind, stacked=True, loss_fn=ens.loss,
                     progress=False)

    def separate() -> None:
        for s in range(seeds):
            prune_cycles(MLP(sizes, generator=torch.Generator().manual_seed(s)), data.train, cycle, dens,
                         rewind=rewind, progress=False)

    t_stacked, t_separate = best_time(stacked, repeats), best_time(separate, repeats)
    return dict(scheme="IMP" if rewind else "LRR", seeds=seeds, width=width, cycles=rounds + 1, epochs=epochs,
                stacked_s=t_stacked, separate_s=t_separate, speedup=t_separate / t_stacked)


def write(rows: list[dict], args: argparse.Namespace, threads: int) -> None:
    lines = ["# Iterative pruning: seeds as ensemble members vs one run per seed", "",
             f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {threads} thread(s), "
             f"fastest of {args.repeats}; digits, MLP 64-w-w-10, SGD, {args.rounds + 1} cycles of "
             f"{args.epochs} epochs, 20% pruned per round.", "",
             "| scheme | seeds | width | stacked (s) | separate (s) | speedup |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['scheme']} | {r['seeds']} | {r['width']} | {r['stacked_s']:.2f} | {r['separate_s']:.2f} "
              f"| ×{r['speedup']:.1f} |" for r in rows]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sparse.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "sparse.json").write_text(json.dumps({"threads": threads, "rows": rows}, indent=1) + "\n")
    print("\n".join(lines))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 5, 10])
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    threads = set_threads(args.threads)
    rows = [compare(s, w, rewind, args.rounds, args.epochs, args.repeats)
            for w in args.widths for s in args.seeds for rewind in (False, True)]
    write(rows, args, threads)


if __name__ == "__main__":
    main()
