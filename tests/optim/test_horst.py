"""HORST: AdamW then the hyperbolic step, by hand; α = β = 0 is torch's AdamW; state_dict; fused path."""

import copy

import pytest
import torch
from torch import nn

from relml.models.transformer import TinyTransformer
from relml.optim import HORST
from relml.optim.hyperbolic import hyperbolic_param_groups


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 8), nn.GELU(), nn.LayerNorm(8), nn.Linear(8, 3))


def _step(model, opt, seed):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(12, 5, generator=g), torch.randint(0, 3, (12,), generator=g)
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()


def test_first_step_by_hand():
    x0 = torch.tensor([[1.0, -0.5, 0.0]], dtype=torch.float64)
    g = torch.tensor([[0.2, 0.4, -1.0]], dtype=torch.float64)
    p = nn.Parameter(x0.clone())
    p.grad = g.clone()
    lr, wd, alpha, beta = 0.1, 0.01, 3.0, 0.2
    HORST([p], lr=lr, weight_decay=wd, alpha=alpha, beta=beta, eps=0.0).step()
    # AdamW's first step: m̂ = g, v̂ = g², so x_half = x(1 − lr·wd) − lr·sign(g) (eps = 0)
    half = x0 * (1 - lr * wd) - lr * torch.sign(g)
    expected = half * torch.exp(-lr * (alpha * torch.sign(half) * g + beta))
    torch.testing.assert_close(p.detach(), expected, rtol=1e-12, atol=1e-15)


def test_zero_alpha_beta_is_torch_adamw_and_the_state_has_its_layout():
    a, b = _model(), _model()
    opt_a = torch.optim.AdamW(a.parameters(), lr=1e-2, weight_decay=0.05)
    opt_b = HORST(b.parameters(), lr=1e-2, weight_decay=0.05, alpha=0.0, beta=0.0)
    for step in range(4):
        _step(a, opt_a, step)
        _step(b, opt_b, step)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    assert opt_a.state_dict()["state"][0].keys() == opt_b.state_dict()["state"][0].keys()


def test_state_dict_round_trip_and_exclusions():
    model = _model()
    groups = hyperbolic_param_groups(model, weight_decay=0.05)
    assert [len(g["params"]) for g in groups] == [2, 4]  # two weights; biases and LayerNorm excluded
    opt = HORST(groups, lr=5e-3, alpha=300.0, beta=1e-2)
    norm_before = model[2].weight.detach().clone()
    for step in range(3):
        _step(model, opt, step)
    clone = copy.deepcopy(model)
    opt2 = HORST(hyperbolic_param_groups(clone), lr=1.0, alpha=1.0)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert opt2.param_groups[0]["alpha"] == 300.0 and opt2.param_groups[1]["hyperbolic"] is False
    for step in range(3, 6):
        _step(model, opt, step)
        _step(clone, opt2, step)
    for p, q in zip(model.parameters(), clone.parameters(), strict=True):
        assert torch.equal(p, q)
    assert not torch.equal(norm_before, model[2].weight)  # norms still train (AdamW only)


def test_transformer_groups_skip_tokens_embeddings_and_norms():
    model = TinyTransformer(members=2, dim=8, heads=2, layers=1)
    groups = hyperbolic_param_groups(model)
    chosen = {id(p) for p in groups[0]["params"]}
    assert id(model.cls_token) not in chosen and id(model.pos_embedding) not in chosen
    assert id(model.norm.weight) not in chosen and id(model.head.weight) in chosen
    assert all(p.ndim == 3 for p in groups[0]["params"])


def test_bad_input():
    with pytest.raises(ValueError, match="betas"):
        HORST(_model().parameters(), betas=(0.9, 1.5))
    with pytest.raises(ValueError, match="alpha"):
        HORST(_model().parameters(), alpha=float("inf"))


def test_fused_equals_unfused(monkeypatch):
    pytest.importorskip("triton")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    a, b = _model(), _model()
    opt_a = HORST(hyperbolic_param_groups(a), lr=1e-2, alpha=100.0, beta=1e-2)
    opt_b = HORST(hyperbolic_param_groups(b), lr=1e-2, alpha=100.0, beta=1e-2, fused=True)
    for step in range(3):
        _step(a, opt_a, step)
        _step(b, opt_b, step)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
