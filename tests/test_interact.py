import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from relml.interact import explore  # noqa: E402


def test_headless_explore_calls_fn_once_with_its_defaults(monkeypatch):
    monkeypatch.setenv("RELML_HEADLESS", "1")
    calls = []

    def draw(density=0.1, kind="er"):
        calls.append((density, kind))
        return plt.figure()

    fig = explore(draw, density=(0.01, 0.5, 0.01), kind=["er", "erk"])
    assert calls == [(0.1, "er")] and fig is not None
    plt.close("all")


def test_controls_must_match_arguments_with_defaults(monkeypatch):
    monkeypatch.setenv("RELML_HEADLESS", "1")
    with pytest.raises(TypeError, match="no argument"):
        explore(lambda a=1: None, b=(0, 1))
    with pytest.raises(TypeError, match="default"):
        explore(lambda a: None, a=(0, 1))
