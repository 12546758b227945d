"""`relml list | run | report`: the papers, headless notebook runs through papermill, and a report.

    relml list
    relml run stubborn_neighbors random_pruning --scale quick -p SEED 1 --out build/try
    relml run --all --jobs 2 --figures figures
    relml report build/try

Every slug, parameter name and value is checked before a kernel starts; a failing notebook leaves its
partial executed copy in --out and the error names the failing cell.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from relml import papers
from relml.claims import parse_table
from relml.notebook import ParameterError, parse_value, resolve

CHECK_MARK = "# NBVAL_CHECK_OUTPUT"


class UsageError(Exception):
    """A bad command line: printed as one line, exit status 2."""


@dataclass
class Outcome:
    slug: str
    ok: bool
    seconds: float
    message: str = ""


def cmd_list(args: argparse.Namespace) -> int:
    if args.markdown:
        print(papers.markdown_table())
        return 0
    width = max(map(len, papers.PAPERS))
    for p in papers.PAPERS.values():
        nb = f"notebooks/{p.slug}.ipynb" if p.status == "ready" else "(planned)"
        print(f"{p.slug:<{width}}  {p.year}  {p.status:<7}  {', '.join(p.topics):<40}  {nb}")
    return 0


def _plan(args: argparse.Namespace) -> tuple[list[str], dict[str, Any]]:
    """Validate slugs and parameters; return the slugs to run and the papermill parameters."""
    if args.all == bool(args.slugs):
        raise UsageError("name one or more papers, or --all (not both)")
    slugs = [p.slug for p in papers.ready()] if args.all else args.slugs
    for slug in slugs:
        if slug not in papers.PAPERS:
            raise UsageError(f"unknown paper {slug!r}; `relml list` shows the slugs")
        if not papers.PAPERS[slug].notebook.exists():
            raise UsageError(f"paper {slug!r} has no notebook yet (status: {papers.PAPERS[slug].status})")
    params: dict[str, Any] = {name: parse_value(value) for name, value in args.param}
    if args.scale is not None:
        params["SCALE"] = args.scale
    for slug in slugs:
        try:
            resolve(slug, params)
        except ParameterError as err:
            raise UsageError(str(err)) from None
    return slugs, params


def run_one(slug: str, params: dict[str, Any], out: Path, figures: Path, threads: int) -> Outcome:
    """Execute one notebook with papermill into out/<slug>.ipynb."""
    import papermill as pm

    os.environ.update(RELML_HEADLESS="1", RELML_FIGURES=str(figures.resolve()),
                      RELML_THREADS=os.environ.get("RELML_THREADS", str(threads)), RELML_PROGRESS="0")
    nb = papers.PAPERS[slug].notebook
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        pm.execute_notebook(str(nb), str(out / nb.name), parameters=params, kernel_name="python3",
                            cwd=str(nb.parent), progress_bar=False, log_output=False)
    except pm.PapermillExecutionError as err:
        first = next((ln for ln in str(err.source).splitlines() if ln.strip()), "")[:60]
        msg = f"cell {err.cell_index} ({first!r}): {err.ename}: {err.evalue}"
        return Outcome(slug, False, time.perf_counter() - start, msg.splitlines()[0])
    except Exception as err:  # kernel died, notebook unreadable, ...
        return Outcome(slug, False, time.perf_counter() - start, f"{type(err).__name__}: {err}")
    return Outcome(slug, True, time.perf_counter() - start)


def cmd_run(args: argparse.Namespace) -> int:
    slugs, params = _plan(args)
    out = Path(args.out)
    figures = Path(args.figures) if args.figures else out / "figures"
    out.mkdir(parents=True, exist_ok=True)
    jobs = max(1, min(args.jobs, len(slugs)))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    failed = 0
    print(f"running {len(slugs)} notebook(s) into {out} (figures: {figures}, jobs: {jobs})", flush=True)
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_one, s, params, out, figures, threads) for s in slugs]
        for i, fut in enumerate(as_completed(futures), 1):
            res = fut.result()
            failed += not res.ok
            status = "ok" if res.ok else f"FAILED at {res.message}"
            print(f"[{i}/{len(slugs)}] {res.slug}: {status} ({res.seconds:.1f} s)", flush=True)
    if failed:
        print(f"{failed} notebook(s) failed; executed copies are in {out}", file=sys.stderr)
    return 1 if failed else 0


def claims_of(path: Path) -> tuple[list[dict[str, str]], str | None]:
    """The claims rows of an executed notebook, and its error (ename: evalue) if it failed."""
    nb = json.loads(path.read_text())
    rows: list[dict[str, str]] = []
    error = None
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error" and error is None:
                error = f"{o['ename']}: {o['evalue']}".splitlines()[0]
        if "".join(cell["source"]).lstrip().startswith(CHECK_MARK):
            text = "".join("".join(o.get("text", "")) for o in cell.get("outputs", [])
                           if o.get("output_type") == "stream")
            rows = parse_table(text)
    return rows, error


def cmd_report(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    notebooks = sorted(folder.glob("*.ipynb"))
    if not notebooks:
        raise UsageError(f"no executed notebooks in {folder}; run `relml run ... --out {folder}` first")
    lines = ["# relml claims report", ""]
    total = held = 0
    for path in notebooks:
        rows, error = claims_of(path)
        lines += [f"## {path.stem}", ""]
        if error:
            lines += [f"**failed**: {error}", ""]
        if rows:
            lines += ["| claim | paper | ours | holds |", "|---|---|---|---|"]
            lines += [f"| {r['claim']} | {r['paper']} | {r['ours']} | {r['holds']} |" for r in rows]
            lines.append("")
        total += len(rows)
        held += sum(r["holds"] == "yes" for r in rows)
    lines.insert(2, f"{held} of {total} claims hold across {len(notebooks)} notebook(s).\n")
    text = "\n".join(lines)
    if args.output:
        Path(args.output).write_text(text)
    else:
        print(text)
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="relml", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="the papers, their years, topics and notebooks")
    p.add_argument("--markdown", action="store_true", help="print README's table")
    p.set_defaults(fn=cmd_list)
    p = sub.add_parser("run", help="execute notebooks headlessly with papermill")
    p.add_argument("slugs", nargs="*", help="paper slugs (see `relml list`)")
    p.add_argument("--all", action="store_true", help="every paper whose notebook is ready")
    p.add_argument("--scale", choices=("quick", "paper"), help="overrides SCALE")
    p.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="a notebook parameter, VALUE as a Python literal (repeatable)")
    p.add_argument("--out", default="build/run", help="folder for executed notebooks (default build/run)")
    p.add_argument("--figures", help="folder for figures (default OUT/figures; `figures` for the tree's)")
    p.add_argument("--jobs", type=int, default=1, help="notebooks run in parallel (default 1)")
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("report", help="gather the claims tables of executed notebooks")
    p.add_argument("dir", nargs="?", default="build/run", help="folder of executed notebooks")
    p.add_argument("--output", help="write the markdown report here instead of printing it")
    p.set_defaults(fn=cmd_report)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except UsageError as err:
        print(f"relml: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
