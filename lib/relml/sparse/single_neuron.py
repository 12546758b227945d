r"""The single-hidden-neuron model of "Masks, Signs, and Learning Rate Rewinding" (Gadhikar & Burkholz,
ICLR 2024, Sec. 2): why LRR succeeds where IMP fails.

Model f(x) = a · ReLU(wᵀx), target y = ReLU(x₁) (+ noise), x ~ U[−1, 1]^d, squared loss
L = (1/2n) Σ_i (f(x_i) − y_i)². Gradient descent with a small step approximates the paper's gradient
flow. Sec. 2.1 (d = 1): learning succeeds only from w(0) > 0 and a(0) > 0; from w(0) < 0 the neuron is
active only where the target is zero, and w cannot cross zero. Sec. 2.2 (d > 1): the overparameterised
neuron can flip the sign of w₁ through the other inputs; pruning then keeps the largest |w_j|, and
IMP rewinds the survivor to w₁(0) < 0 (the d = 1 failure), while LRR keeps the trained w₁ > 0.

Everything is vectorised over R independent runs (initialisations): a (R,), w (R, d).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["gd", "imp_vs_lrr", "neuron_data", "quadrant_success"]


def neuron_data(n: int, d: int, noise: float = 0.0, generator: torch.Generator | None = None
                ) -> tuple[Tensor, Tensor]:
    """x ~ U[−1, 1]^(n×d) and y = ReLU(x₁) + noise·N(0, 1): (n, d), (n,) in float64."""
    if n < 1 or d < 1 or noise < 0:
        raise ValueError(f"n={n}, d={d}, noise={noise}: pass n, d >= 1 and noise >= 0")
    x = torch.rand(n, d, generator=generator, dtype=torch.float64) * 2 - 1
    y = x[:, 0].clamp(min=0) + noise * torch.randn(n, generator=generator, dtype=torch.float64)
    return x, y


def _loss(a: Tensor, w: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """Per-run loss (R,): (1/2n) Σ_i (a ReLU(wᵀx_i) − y_i)²."""
    r = a[:, None] * (w @ x.T).clamp(min=0) - y
    return 0.5 * (r**2).mean(1)


def gd(a: Tensor, w: Tensor, x: Tensor, y: Tensor, steps: int, lr: float,
       mask: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """`steps` of full-batch gradient descent on every run at once; pruned entries (mask 0) stay 0.

    a (R,), w (R, d), mask (R, d) or None. Returns the final a, w and the per-run loss (R,).
    """
    if a.ndim != 1 or w.shape != (a.shape[0], x.shape[1]) or y.shape != (x.shape[0],):
        raise ValueError(f"pass a (R,), w (R, d), x (n, d), y (n,); got {tuple(a.shape)}, {tuple(w.shape)}, "
                         f"{tuple(x.shape)}, {tuple(y.shape)}")
    if steps < 0 or not lr > 0:
        raise ValueError(f"steps={steps}, lr={lr}: pass steps >= 0 and lr > 0")
    a, w = a.clone(), w.clone() if mask is None else w * mask
    n = x.shape[0]
    for _ in range(steps):
        pre = w @ x.T  # (R, n)
        act = pre.clamp(min=0)
        r = a[:, None] * act - y  # residuals (R, n)
        grad_a = (r * act).sum(1) / n
        grad_w = ((r * a[:, None] * (pre > 0)) @ x) / n
        if mask is not None:
            grad_w = grad_w * mask
        a, w = a - lr * grad_a, w - lr * grad_w
    return a, w, _loss(a, w, x, y)


def quadrant_success(a0: Tensor, w0: Tensor, x: Tensor, y: Tensor, steps: int, lr: float,
                     tol: float = 1e-3) -> Tensor:
    """d = 1 (Sec. 2.1): whether training from each (a0[r], w0[r]) reaches loss < `tol` (bool (R,))."""
    if x.shape[1] != 1:
        raise ValueError("quadrant_success is the d = 1 experiment: pass x of shape (n, 1)")
    *_, loss = gd(a0, w0.reshape(-1, 1), x, y, steps, lr)
    return loss < tol


def imp_vs_lrr(a0: Tensor, w0: Tensor, x: Tensor, y: Tensor, steps: int, lr: float,
               tol: float = 1e-3) -> dict[str, Tensor]:
    """d > 1 (Sec. 2.2): train dense, prune to the single largest |w_j|, then IMP (rewind to a0, w0 on the
    mask) vs LRR (keep the trained a, w on the mask), each trained `steps` more. Per-run results (R,):
    mask_correct (the survivor is w₁), dense_w1 (w₁ after dense training), imp_success, lrr_success
    (final loss < tol), imp_loss, lrr_loss.
    """
    a1, w1, _ = gd(a0, w0, x, y, steps, lr)
    mask = torch.zeros_like(w1)
    mask.scatter_(1, w1.abs().argmax(1, keepdim=True), 1.0)
    _, _, imp_loss = gd(a0, w0, x, y, steps, lr, mask)
    _, _, lrr_loss = gd(a1, w1, x, y, steps, lr, mask)
    return {"mask_correct": mask[:, 0] == 1, "dense_w1": w1[:, 0], "imp_loss": imp_loss, "lrr_loss": lrr_loss,
            "imp_success": imp_loss < tol, "lrr_success": lrr_loss < tol}
