import numpy as np
import pytest
import torch

from relml import notebook
from relml.notebook import Param, ParameterError, choice, integer, real, sequence


def test_checks_accept_good_values_and_reject_bad_ones():
    integer(1, 5)("N", 3)
    with pytest.raises(ParameterError, match=r"N=0: expected an integer in \[1, 5\]"):
        integer(1, 5)("N", 0)
    with pytest.raises(ParameterError):
        integer()("N", True)
    real(0, 1, hi_open=True)("P", 0.5)
    for bad in (1.0, float("nan"), "0.5"):
        with pytest.raises(ParameterError):
            real(0, 1, hi_open=True)("P", bad)
    choice("a", "b")("C", "a")
    with pytest.raises(ParameterError, match="one of 'a', 'b'"):
        choice("a", "b")("C", "c")
    sequence(real(0, 1))("L", (0.1, 0.2))
    with pytest.raises(ParameterError, match=r"L\[1\]"):
        sequence(real(0, 1))("L", [0.1, 2.0])


@pytest.fixture
def fake_paper(monkeypatch):
    """A registered paper 'stubborn_neighbors' with a made-up spec."""
    spec = {"WIDTH": Param(8, 512, integer(1), "hidden width"), "RATE": Param(0.1, 0.2, real(0, 1))}
    monkeypatch.setattr(notebook, "spec", lambda slug: {**notebook.COMMON, **spec})
    return "stubborn_neighbors"


def test_resolve_fills_presets_of_the_scale(fake_paper):
    assert notebook.resolve(fake_paper, {"WIDTH": None})["WIDTH"] == 8
    paper = notebook.resolve(fake_paper, {"SCALE": "paper", "RATE": 0.5})
    assert paper["WIDTH"] == 512 and paper["RATE"] == 0.5


def test_resolve_rejects_unknown_names_and_bad_values(fake_paper):
    with pytest.raises(ParameterError, match="unknown parameter.*WIDHT.*known: SCALE"):
        notebook.resolve(fake_paper, {"WIDHT": 3})
    with pytest.raises(ParameterError, match="SCALE='huge'"):
        notebook.resolve(fake_paper, {"SCALE": "huge"})
    with pytest.raises(ParameterError, match="DEVICE='gpu'"):
        notebook.resolve(fake_paper, {"DEVICE": "gpu"})


def test_setup_reads_upper_case_globals_and_seeds_everything(fake_paper, capsys):
    ns = {"SCALE": "quick", "SEED": 3, "DEVICE": "cpu", "WIDTH": None, "RATE": None, "helper": 1,
          "In": [], "_": None, "HAM": torch.optim.SGD, "NP": np}  # imported classes/modules are no params
    cfg = notebook.setup(fake_paper, ns)
    a = (torch.rand(3), np.random.rand(3))  # noqa: NPY002
    cfg2 = notebook.setup(fake_paper, ns, quiet=True)
    b = (torch.rand(3), np.random.rand(3))  # noqa: NPY002
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert cfg.WIDTH == 8 and cfg2.device == torch.device("cpu")
    assert "WIDTH" in capsys.readouterr().out
    with pytest.raises(AttributeError):
        _ = cfg.NOPE


def test_setup_rejects_cuda_without_a_gpu(fake_paper):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        notebook.setup(fake_paper, {"DEVICE": "cuda"})


def test_parse_value_reads_literals():
    assert notebook.parse_value("0.5") == 0.5
    assert notebook.parse_value("[1, 2]") == [1, 2]
    assert notebook.parse_value("ring") == "ring"


def test_paper_without_presets_is_a_clear_error(monkeypatch):
    def missing(name):
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(notebook.importlib, "import_module", missing)
    with pytest.raises(ParameterError, match="no notebook yet"):
        notebook.spec("sparseopt")
    with pytest.raises(KeyError, match="unknown paper"):
        notebook.spec("nope")
