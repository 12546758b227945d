import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from relml.plotting import figures_dir, savefig  # noqa: E402


def test_savefig_writes_atomically_into_relml_figures(tmp_path, monkeypatch):
    monkeypatch.setenv("RELML_FIGURES", str(tmp_path))
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = savefig(fig, "demo", "line")
    assert path == tmp_path / "demo" / "line.png" and path.stat().st_size > 1000
    assert [p.name for p in (tmp_path / "demo").iterdir()] == ["line.png"]  # no temp file left
    again = savefig(fig, "demo", "line")
    assert again.read_bytes() == path.read_bytes()  # same figure, same bytes
    plt.close(fig)


def test_failed_save_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.setenv("RELML_FIGURES", str(tmp_path))
    fig = plt.figure()
    with pytest.raises(ValueError):
        savefig(fig, "demo", "bad", fmt="nope")
    assert list(figures_dir("demo").iterdir()) == []
    with pytest.raises(ValueError, match="plain file stem"):
        savefig(fig, "demo", "../escape")
    plt.close(fig)
