"""The hyperbolic mirror step: a hand-computed step, its invariants, foreach = single tensor = fused."""

import math

import pytest
import torch
from torch import nn
from torch.optim.adamw import adamw
from torch.optim.sgd import sgd

from relml.optim import hyperbolic as H


def _pair(seed=0, shapes=((5, 4), (3, 2, 2), (7,))):
    g = torch.Generator().manual_seed(seed)
    params = [torch.randn(s, generator=g, dtype=torch.float64) for s in shapes]
    grads = [torch.randn(s, generator=g, dtype=torch.float64) for s in shapes]
    return params, grads


def test_one_step_by_hand():
    x = torch.tensor([[2.0, -1.0], [0.0, 0.5]], dtype=torch.float64)
    g = torch.tensor([[0.1, 0.3], [4.0, -2.0]], dtype=torch.float64)
    lr, alpha, beta = 0.1, 2.0, 0.5
    # exponents −lr(α sign(x) g + β): −0.1(0.2 + 0.5), −0.1(−0.6 + 0.5), (x = 0), −0.1(−4 + 0.5)
    expected = torch.tensor([[2.0 * math.exp(-0.07), -1.0 * math.exp(0.01)],
                             [0.0, 0.5 * math.exp(0.35)]], dtype=torch.float64)
    for foreach in (False, True):
        p = x.clone()
        H.hyperbolic_step([p], [g], lr=lr, alpha=alpha, beta=beta, foreach=foreach)
        torch.testing.assert_close(p, expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("shapes", [((5, 4), (3, 2, 2), (7,)), ((256, 160), (9,))])  # exp / exp2 paths
def test_foreach_equals_single_tensor_and_keeps_zeros_and_signs(shapes):
    params, grads = _pair(shapes=shapes)
    params[0][1, :] = 0.0  # masked row: stays exactly zero whatever its gradient
    a, b = [p.clone() for p in params], [p.clone() for p in params]
    kwargs = dict(lr=0.3, alpha=20.0, beta=1e-2, clamp=5.0)
    H.hyperbolic_step(a, grads, foreach=False, **kwargs)
    H.hyperbolic_step(b, grads, foreach=True, **kwargs)
    for x, y, p in zip(a, b, params, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-300)
        assert torch.equal(torch.sign(x), torch.sign(p))  # a positive factor never flips a sign
    assert bool((a[0][1] == 0).all())


def test_clamp_bounds_the_factor_and_maximize_negates_the_gradient():
    x = torch.ones(4)
    g = torch.tensor([1e3, -1e3, 1.0, -1.0])
    H.hyperbolic_step([x], [g], lr=1.0, alpha=1.0, beta=0.0, clamp=2.0, foreach=False)
    torch.testing.assert_close(x, torch.exp(torch.tensor([-2.0, 2.0, -1.0, 1.0])))
    y, z = torch.ones(4), torch.ones(4)
    H.hyperbolic_step([y], [g], lr=0.01, alpha=1.0, maximize=True, foreach=True)
    H.hyperbolic_step([z], [-g], lr=0.01, alpha=1.0, foreach=True)
    torch.testing.assert_close(y, z)


def test_bad_arguments_say_what_to_pass():
    x, g = torch.ones(3), torch.ones(3)
    with pytest.raises(ValueError, match="alpha"):
        H.hyperbolic_step([x], [g], lr=0.1, alpha=-1.0)
    with pytest.raises(ValueError, match="lr"):
        H.hyperbolic_step([x], [g], lr=float("nan"), alpha=1.0)
    with pytest.raises(ValueError, match="clamp"):
        H.hyperbolic_step([x], [g], lr=0.1, alpha=1.0, clamp=0.0)
    with pytest.raises(ValueError, match="shape"):
        H.hyperbolic_step([x], [torch.ones(2)], lr=0.1, alpha=1.0)


def test_param_groups_leave_out_biases_norms_and_embeddings():
    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 3), nn.LayerNorm(3), nn.Linear(3, 2))
    chosen = H.mirror_weights(model)
    assert [tuple(p.shape) for p in chosen] == [(3, 4), (2, 3)]
    groups = H.hyperbolic_param_groups(model, lr=0.1)
    assert [g["hyperbolic"] for g in groups] == [True, False]
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    assert all(g["lr"] == 0.1 for g in groups)
    assert H.is_hyperbolic(torch.ones(3, 3), None) and not H.is_hyperbolic(torch.ones(3), None)


@pytest.fixture
def interpret(monkeypatch):
    """Run the Triton kernels in the interpreter on CPU tensors."""
    pytest.importorskip("triton")
    monkeypatch.setenv("TRITON_INTERPRET", "1")


@pytest.mark.parametrize("momentum, nesterov, weight_decay",
                         [(0.9, False, 1e-2), (0.9, True, 0.0), (0.0, False, 0.1)])
def test_fused_sgd_step_equals_sgd_then_mirror(interpret, momentum, nesterov, weight_decay):
    params, grads = _pair(1, shapes=((33, 17), (50,)))
    params = [p.float() for p in params]
    grads = [0.3 * g.float() for g in grads]
    params[0][:4] = 0.0
    mirror = [p.ndim >= 2 for p in params]
    ref, fused = [p.clone() for p in params], [p.clone() for p in params]
    bufs_ref, bufs_fused = [None, None], [None, None]
    opts = dict(lr=0.1, momentum=momentum, dampening=0.0 if nesterov else 0.1, weight_decay=weight_decay,
               nesterov=nesterov, maximize=False)
    for _ in range(3):
        sgd(ref, grads, bufs_ref, foreach=False, **opts)
        H.hyperbolic_step([ref[0]], [grads[0]], lr=0.1, alpha=5.0, beta=0.01, foreach=False)
        H.fused_sgd_hyperbolic_(fused, grads, bufs_fused, mirror, alpha=5.0, beta=0.01, **opts)
    for r, f in zip(ref, fused, strict=True):
        torch.testing.assert_close(f, r, rtol=1e-5, atol=1e-6)
    if momentum:
        torch.testing.assert_close(bufs_fused[0], bufs_ref[0], rtol=1e-5, atol=1e-6)


def test_fused_adamw_step_equals_adamw_then_mirror(interpret):
    params, grads = _pair(2, shapes=((40, 9), (9,)))
    params, grads = [p.float() for p in params], [g.float() for g in grads]
    mirror = [True, False]
    states = [([torch.zeros_like(p) for p in params], [torch.zeros_like(p) for p in params],
               [torch.tensor(0.0) for _ in params], [p.clone() for p in params]) for _ in range(2)]
    adam = dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.05, maximize=False)
    for _ in range(3):
        m, v, s, x = states[0]
        adamw(x, grads, m, v, [], s, foreach=False, amsgrad=False, **adam)
        H.hyperbolic_step([x[0]], [grads[0]], lr=1e-2, alpha=50.0, beta=0.1)
        m, v, s, x = states[1]
        H.fused_adamw_hyperbolic_(x, grads, m, v, s, mirror, alpha=50.0, beta=0.1, **adam)
    for a, b in zip(states[0], states[1], strict=True):
        for r, f in zip(a, b, strict=True):
            torch.testing.assert_close(f, r, rtol=1e-5, atol=1e-6)
