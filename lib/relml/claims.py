"""The claims table every notebook ends with: claim, the paper's value, ours, and whether it holds.

    claims = Claims("random_pruning", scale=cfg.SCALE, seeds=cfg.seeds)
    claims.add("ER ≈ dense at 50% density", paper="within 1% (Fig. 2)", ours=gap, holds=gap < 0.02)
    claims.report()   # prints the table; raises ClaimFailed if a claim expected at this scale fails

The table is markdown, rounded, and free of timings or paths, so nbval can compare it across runs and
`relml report` can gather it from executed notebooks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

HEADER = "| claim | paper | ours | holds |"


class ClaimFailed(AssertionError):
    """A claim that should hold at this scale did not."""


@dataclass(frozen=True)
class Claim:
    name: str
    paper: str
    ours: str
    holds: bool
    expected: bool  # expected to hold at the notebook's scale

    @property
    def verdict(self) -> str:
        if self.holds:
            return "yes"
        return "NO" if self.expected else "no (not expected at this scale)"


def _fmt(value: object, digits: int) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.{digits}f}"
    return str(value)


class Claims:
    """An ordered collection of claims for one notebook run."""

    def __init__(self, slug: str, scale: str, seeds: Sequence[int] | None = None) -> None:
        self.slug, self.scale, self.seeds = slug, scale, list(seeds or [])
        self.claims: list[Claim] = []

    def add(self, name: str, *, paper: str, ours: object, holds: bool | np.bool_, digits: int = 2,
            at: Sequence[str] = ("quick", "paper")) -> Claim:
        """Record a claim; `at` lists the scales at which it is expected to hold."""
        if not isinstance(holds, (bool, np.bool_)):
            raise TypeError(f"holds must be a bool (a measured comparison), got {type(holds).__name__}")
        claim = Claim(name, paper, _fmt(ours, digits), bool(holds), self.scale in at)
        self.claims.append(claim)
        return claim

    def table(self) -> str:
        seeds = f", seeds {self.seeds[0]}-{self.seeds[-1]}" if len(self.seeds) > 1 else ""
        rows = [f"Claims: {self.slug} (scale {self.scale}{seeds})", HEADER, "|---|---|---|---|"]
        rows += [f"| {c.name} | {c.paper} | {c.ours} | {c.verdict} |" for c in self.claims]
        return "\n".join(rows)

    @property
    def failed(self) -> list[Claim]:
        return [c for c in self.claims if c.expected and not c.holds]

    def report(self) -> None:
        """Print the table; raise ClaimFailed naming every expected claim that did not hold."""
        if not self.claims:
            raise ClaimFailed(f"{self.slug}: no claims were recorded")
        print(self.table())
        if self.failed:
            names = "; ".join(c.name for c in self.failed)
            raise ClaimFailed(f"{self.slug} ({self.scale}): claim(s) did not hold: {names}")


def parse_table(text: str) -> list[dict[str, str]]:
    """The rows of a printed claims table (inverse of `Claims.table`), for `relml report`."""
    rows, inside = [], False
    for line in text.splitlines():
        if line.strip() == HEADER:
            inside = True
            continue
        if inside and line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            if len(cells) == 4:
                rows.append(dict(zip(("claim", "paper", "ours", "holds"), cells, strict=True)))
        elif inside and not line.startswith("|"):
            inside = False
    return rows
