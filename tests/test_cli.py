import json
import subprocess
import sys

import nbformat
import pytest

from relml import cli, papers

READY = [p.slug for p in papers.ready()]


@pytest.fixture
def no_kernel(monkeypatch):
    """Fail the test if any notebook would be executed."""
    def boom(*args, **kwargs):
        raise AssertionError("a kernel was started")

    monkeypatch.setattr(cli, "run_one", boom)


@pytest.mark.parametrize("argv, message", [
    (["run", "nope"], "unknown paper 'nope'"),
    (["run"], "name one or more papers"),
    (["run", READY[0], "-p", "NOPE", "1"], "unknown parameter(s) NOPE"),
    (["run", READY[0], "-p", "SEED", "-1"], "SEED=-1"),
    (["run", READY[0], "-p", "DEVICE", "tpu"], "DEVICE='tpu'"),
    (["run", "sparseopt"], "has no notebook yet"),
])
def test_bad_input_is_one_clear_line_and_exit_2_before_any_kernel(argv, message, capsys, no_kernel):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_bad_scale_is_rejected_by_the_parser(capsys, no_kernel):
    with pytest.raises(SystemExit) as exc:
        cli.main(["run", READY[0], "--scale", "huge"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_list_names_every_paper(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(slug in out for slug in papers.PAPERS)


def test_python_dash_m_relml_works():
    res = subprocess.run([sys.executable, "-m", "relml", "list"], capture_output=True, text=True, check=True)
    assert "stubborn_neighbors" in res.stdout


def _executed(path, claims_text, error=None):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nclaims.report()")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=claims_text)]
    if error:
        cell.outputs.append(nbformat.v4.new_output("error", ename="ClaimFailed", evalue=error, traceback=[]))
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), cell]
    path.write_text(json.dumps(nb))


def test_report_gathers_claims_tables(tmp_path, capsys):
    table = ("Claims: a (scale quick)\n| claim | paper | ours | holds |\n|---|---|---|---|\n"
             "| c1 | 1 | 2 | yes |\n")
    _executed(tmp_path / "a.ipynb", table)
    failing = table.replace("yes", "NO").replace("c1", "c2")
    _executed(tmp_path / "b.ipynb", failing, error="c2 did not hold")
    assert cli.main(["report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "1 of 2 claims hold across 2 notebook(s)" in out
    assert "| c2 | 1 | 2 | NO |" in out and "**failed**: ClaimFailed: c2 did not hold" in out
    assert cli.main(["report", str(tmp_path / "empty")]) == 2
