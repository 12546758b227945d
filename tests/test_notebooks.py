"""Every ready notebook keeps the contract of DESIGN.md and runs headless through papermill."""

import ast

import nbformat
import pytest

from relml import cli, notebook, papers
from relml.claims import parse_table

READY = [p.slug for p in papers.ready()]


def cells(slug):
    return nbformat.read(papers.get(slug).notebook, as_version=4).cells


def code(slug):
    return [c for c in cells(slug) if c.cell_type == "code"]


@pytest.mark.parametrize("slug", READY)
def test_title_cell_names_the_paper_and_links_it(slug):
    first, paper = cells(slug)[0], papers.get(slug)
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert paper.url in first.source and str(paper.year) in first.source
    assert "claim" in first.source.lower()


@pytest.mark.parametrize("slug", READY)
def test_parameters_cell_is_plain_assignments_of_the_spec(slug):
    tagged = [c for c in code(slug) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    tree = ast.parse(tagged[0].source)
    assert all(isinstance(s, ast.Assign) and len(s.targets) == 1 for s in tree.body)
    values = {s.targets[0].id: ast.literal_eval(s.value) for s in tree.body}
    assert list(values)[:3] == ["SCALE", "SEED", "DEVICE"]
    assert values["SCALE"] == "quick" and values["SEED"] == 0 and values["DEVICE"] == "auto"
    assert set(values) == set(notebook.spec(slug)), "parameters cell and relml.presets disagree"
    assert all(v is None for k, v in values.items() if k not in ("SCALE", "SEED", "DEVICE"))


@pytest.mark.parametrize("slug", READY)
def test_setup_explore_and_checked_claims_cells(slug):
    cs = code(slug)
    params = next(i for i, c in enumerate(cs) if "parameters" in c.metadata.get("tags", []))
    assert f'setup("{slug}", globals())' in cs[params + 1].source
    explore = [c for c in cs if "explore(" in c.source]
    assert explore and all("nbval-ignore-output" in c.metadata.get("tags", []) for c in explore)
    last = cs[-1].source
    assert last.startswith("# NBVAL_CHECK_OUTPUT") and "report()" in last


@pytest.mark.parametrize("slug", READY)
def test_committed_outputs_are_a_clean_top_to_bottom_run(slug):
    cs = code(slug)
    counts = [c.execution_count for c in cs]
    assert counts == list(range(1, len(cs) + 1)), "re-run the notebook top to bottom on a fresh kernel"
    assert not any(o.output_type == "error" for c in cs for o in c.outputs)
    rows = parse_table("".join(o.get("text", "") for o in cs[-1].outputs))
    assert rows and all(r["holds"] != "NO" for r in rows)
    assert any(o.output_type == "display_data" and "image/png" in o.data for c in cs for o in c.outputs)


@pytest.mark.parametrize("slug", READY)
def test_papermill_runs_the_notebook_and_writes_its_figures(slug, tmp_path, monkeypatch):
    for var in ("RELML_HEADLESS", "RELML_FIGURES", "RELML_THREADS", "RELML_PROGRESS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RELML_THREADS", "1")
    res = cli.run_one(slug, {}, tmp_path, tmp_path / "figures", threads=1)
    assert res.ok, res.message
    assert list((tmp_path / "figures" / slug).glob("*.png"))
    rows, error = cli.claims_of(tmp_path / f"{slug}.ipynb")
    assert error is None and rows and all(r["holds"] != "NO" for r in rows)
