"""Hidden confounding that shifts across environments, and ERM against IRM, V-REx and GroupDRO.

Reddy, Rubio-Madrigal, Burkholz & Muandet, "When Shift Happens - Confounding Is to Blame" (ICLR 2026,
arXiv 2505.21422), the synthetic studies of the intro figure and of the proxy sweep (official code
gautam0707/Confounding_is_to_Blame, `synthetic/introfigure.py`, `synthetic/varyingS.py`).

The data-generating process (a linear SCM; e indexes the environment)::

    U   ~ N(mu_e, sd_e^2)                      hidden confounder, its law shifts with e
    X   = a U + N(0, sx^2 I)                   causal covariates (d of them)
    Y   = beta . X + gamma U + N(0, sy^2)      the mechanism Y | X, U is the same in every e
    S_j = c U + N(0, ss^2),  j = 1..m          proxies of U (non-causal covariates)

Since U is hidden, E[Y | X, S, e] = beta . X + gamma E[U | X, S, e] depends on e: the shift of U's law
breaks the invariance that IRM and V-REx look for, and the paper proves that good out-of-distribution
(OOD) prediction needs environment-specific relationships (proxies of U, or domain statistics).

Every tensor holds all environments at once: (..., E, n, ...) with leading batch dimensions (seeds,
proxy counts), E environments and n samples per environment. The four methods are penalty settings of
one objective, trained together in one full-batch loop over linear predictors y_hat = w . x + b
(`fit_methods`; `fit_linear` for one method):

- ERM:      mean_e R_e
- IRMv1:    mean_e R_e + lambda mean_e (d/ds R_e(s y_hat) at s = 1)^2  (Arjovsky et al. 2019, eq. IRMv1)
- V-REx:    mean_e R_e + lambda Var_e R_e                               (Krueger et al. 2021)
- GroupDRO: sum_e q_e R_e, q_e <- q_e exp(eta R_e) / Z before each step  (Sagawa et al. 2020, Alg. 1)

with R_e the mean squared error in environment e.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

METHODS = ("erm", "irm", "vrex", "groupdro")
COVARIATE_SETS = ("X", "X+stats", "X+S", "X+U")
STATISTICS = ("mean", "sd", "mad", "q25", "q75")

# The paper's environments: training domains A, B and held-out (OOD) domains C, D, U's sd 0.5 in each.
TRAIN_MU = (2.0, -2.0)
TEST_MU = (0.0, 4.0)
U_SD = 0.5
N_PER_ENV = 250  # 500 training samples split evenly over A and B; 250 per OOD domain


# ---------------------------------------------------------------------------------------------
# the data-generating process


def _finite(name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name}={value!r}: pass a finite number")
    return float(value)


def _positive(name: str, value: float) -> float:
    if _finite(name, value) <= 0:
        raise ValueError(f"{name}={value!r}: pass a number > 0")
    return float(value)


@dataclass(frozen=True)
class ConfoundedSCM:
    """The linear SCM with a hidden confounder U (module docstring), one instance per paper setting.

    Parameters
    ----------
    x_from_u: a, the effect of U on each of the d causal covariates X.
    x_noise: sx, the sd of X's own noise.
    y_from_x: beta (length d), the causal effect of X on Y.
    y_from_u: gamma, the effect of the hidden confounder on Y.
    y_noise: sy, the sd of Y's noise.
    proxy_from_u, proxy_noise: c and ss of every proxy S_j = c U + N(0, ss^2).
    n_proxies: m, how many proxies `sample` draws (models may use the first k of them).
    """

    x_from_u: tuple[float, ...] = (0.3,)
    x_noise: float = 1.0
    y_from_x: tuple[float, ...] = (1.0,)
    y_from_u: float = -2.0
    y_noise: float = 0.5
    proxy_from_u: float = 0.1
    proxy_noise: float = 0.1
    n_proxies: int = 20

    def __post_init__(self) -> None:
        a, beta = tuple(self.x_from_u), tuple(self.y_from_x)
        if not a or len(a) != len(beta):
            raise ValueError(f"x_from_u={a!r} and y_from_x={beta!r}: pass one entry per causal covariate, "
                             "the same number in both")
        for i, (ai, bi) in enumerate(zip(a, beta, strict=True)):
            _finite(f"x_from_u[{i}]", ai)
            _finite(f"y_from_x[{i}]", bi)
        object.__setattr__(self, "x_from_u", tuple(float(v) for v in a))
        object.__setattr__(self, "y_from_x", tuple(float(v) for v in beta))
        _finite("y_from_u", self.y_from_u)
        _finite("proxy_from_u", self.proxy_from_u)
        for name in ("x_noise", "y_noise", "proxy_noise"):
            _positive(name, getattr(self, name))
        if not isinstance(self.n_proxies, int) or isinstance(self.n_proxies, bool) or self.n_proxies < 0:
            raise ValueError(f"n_proxies={self.n_proxies!r}: pass an integer >= 0")

    @property
    def d(self) -> int:
        """Number of causal covariates."""
        return len(self.x_from_u)

    def sample(self, mu: Sequence[float], sd: Sequence[float] | float, n: int,
               seed: int | Sequence[int] = 0, dtype: torch.dtype = torch.float64) -> Environments:
        """Draw n samples in each of the E environments U ~ N(mu[e], sd[e]^2).

        `seed` an int gives tensors (E, n, ...); a sequence of S seeds gives (S, E, n, ...), seed s
        drawn from its own generator, so a seed's data do not depend on which other seeds are drawn.
        """
        mu_t = torch.as_tensor(mu, dtype=dtype).reshape(-1)
        sd_t = torch.as_tensor(sd, dtype=dtype).reshape(-1)
        if sd_t.numel() == 1:
            sd_t = sd_t.expand_as(mu_t).clone()
        if mu_t.numel() < 1 or sd_t.shape != mu_t.shape:
            raise ValueError(f"mu={mu!r}, sd={sd!r}: pass one mean per environment and one sd (or a "
                             "single sd for all)")
        if not (torch.isfinite(mu_t).all() and torch.isfinite(sd_t).all() and (sd_t > 0).all()):
            raise ValueError(f"mu={mu!r}, sd={sd!r}: pass finite means and sds > 0")
        if not isinstance(n, int) or isinstance(n, bool) or n < 2:
            raise ValueError(f"n={n!r}: pass the number of samples per environment, an integer >= 2")
        seeds = [seed] if isinstance(seed, int) else list(seed)
        if not seeds or any(not isinstance(s, int) or s < 0 for s in seeds):
            raise ValueError(f"seed={seed!r}: pass a non-negative int or a list of them")
        e, d, m = mu_t.numel(), self.d, self.n_proxies
        a = torch.tensor(self.x_from_u, dtype=dtype)
        beta = torch.tensor(self.y_from_x, dtype=dtype)
        draws = []
        for s in seeds:  # one generator per seed; the samples themselves are drawn in one call each
            g = torch.Generator().manual_seed(s)
            u = mu_t[:, None] + sd_t[:, None] * torch.randn(e, n, generator=g, dtype=dtype)
            x = u[..., None] * a + self.x_noise * torch.randn(e, n, d, generator=g, dtype=dtype)
            s_ = self.proxy_from_u * u[..., None] + self.proxy_noise * torch.randn(
                e, n, m, generator=g, dtype=dtype)
            y = x @ beta + self.y_from_u * u + self.y_noise * torch.randn(e, n, generator=g, dtype=dtype)
            draws.append((u, x, s_, y))
        u, x, s_, y = (torch.stack(t) for t in zip(*draws, strict=True))
        if isinstance(seed, int):
            u, x, s_, y = u[0], x[0], s_[0], y[0]
        return Environments(u=u, x=x, s=s_, y=y, mu=mu_t, sd=sd_t)


class Environments(NamedTuple):
    """Samples of E environments: u (..., E, n), x (..., E, n, d), s (..., E, n, m), y (..., E, n);
    mu, sd (E,) the law of U in each environment."""

    u: Tensor
    x: Tensor
    s: Tensor
    y: Tensor
    mu: Tensor
    sd: Tensor


class Errors(NamedTuple):
    """In-distribution (training) and OOD (held-out environments, pooled) MSE, each (S, ...) over seeds."""

    iid: Tensor
    ood: Tensor


# The two settings of the paper's synthetic studies (official code): the intro figure and the proxy sweep.
INTRO_SCM = ConfoundedSCM(x_from_u=(0.75,), x_noise=1.5, y_from_x=(1.0,), y_from_u=-3.0, y_noise=0.5,
                          proxy_from_u=0.6, proxy_noise=0.3, n_proxies=1)
PROXY_SCM = ConfoundedSCM(x_from_u=(0.3,), x_noise=1.0, y_from_x=(1.0,), y_from_u=-2.0, y_noise=0.5,
                          proxy_from_u=0.1, proxy_noise=0.1, n_proxies=20)


def domain_statistics(x: Tensor) -> Tensor:
    """Per-environment statistics of each covariate: x (..., E, n, d) → (..., E, d, 5).

    The five (in the order of `STATISTICS`) are mean, sd (n - 1 denominator), MAD (scaled by 1.4826 to
    estimate a Gaussian's sd), and the 25% and 75% quantiles: the paper's "environment-specific mapping"
    X + E of the intro figure. For a held-out environment they are computed on its own (unlabelled)
    inputs, i.e. transductively.
    """
    if x.ndim < 3 or x.shape[-2] < 2:
        raise ValueError(f"x has shape {tuple(x.shape)}: pass (..., E, n, d) with n >= 2")
    med = torch.quantile(x, 0.5, dim=-2, keepdim=True)
    mad = 1.482602218505602 * torch.quantile((x - med).abs(), 0.5, dim=-2)
    q = torch.quantile(x, torch.tensor([0.25, 0.75], dtype=x.dtype), dim=-2)  # (2, ..., E, d)
    return torch.stack([x.mean(-2), x.std(-2), mad, q[0], q[1]], dim=-1)


def covariates(data: Environments, which: str = "X", proxies: int | None = None) -> Tensor:
    """The model inputs (..., E, n, p) of a covariate set.

    which: "X" (causal covariates only), "X+S" (X and the first `proxies` proxies, all of them when
    None), "X+stats" (X and its per-environment `domain_statistics`), "X+U" (X and the confounder: the
    oracle).
    """
    if which not in COVARIATE_SETS:
        raise ValueError(f"which={which!r}: pass one of {', '.join(COVARIATE_SETS)}")
    x = data.x
    if which == "X":
        return x
    if which == "X+U":
        return torch.cat([x, data.u[..., None]], dim=-1)
    if which == "X+stats":
        stats = domain_statistics(x).flatten(-2)  # (..., E, 5d)
        return torch.cat([x, stats[..., None, :].expand(*x.shape[:-1], stats.shape[-1])], dim=-1)
    m = data.s.shape[-1]
    k = m if proxies is None else proxies
    if not isinstance(k, int) or not 0 <= k <= m:
        raise ValueError(f"proxies={proxies!r}: pass an integer in [0, {m}] (the proxies drawn)")
    return torch.cat([x, data.s[..., :k]], dim=-1)


def proxy_ladder(data: Environments, proxies: Sequence[int]) -> Tensor:
    """X with the first k proxies for every k in `proxies`, zero-padded to one batch: (K, ..., E, n, d + m).

    A zero column is inert in `fit_linear` (its gradient and hence its weight stay zero), so row k is the
    model on X + k proxies.
    """
    m = data.s.shape[-1]
    ks = torch.as_tensor(list(proxies))
    if ks.ndim != 1 or ks.numel() < 1 or (ks < 0).any() or (ks > m).any():
        raise ValueError(f"proxies={proxies!r}: pass proxy counts in [0, {m}]")
    keep = (torch.arange(m) < ks[:, None]).to(data.s.dtype)  # (K, m)
    s = data.s.unsqueeze(0) * keep.reshape(len(ks), *([1] * (data.s.ndim - 1)), m)
    x = data.x.unsqueeze(0).expand(len(ks), *data.x.shape)
    return torch.cat([x, s], dim=-1)


def population_errors(scm: ConfoundedSCM, proxies: Sequence[int], *, train_mu: Sequence[float] = TRAIN_MU,
                      train_sd: float | Sequence[float] = U_SD, test_mu: Sequence[float] = TEST_MU,
                      test_sd: float | Sequence[float] = U_SD) -> Errors:
    """ERM's in- and out-of-distribution MSE on X + k proxies with infinitely many samples, (K,) each.

    Closed form for equal-sized environments. With features f = m U + eps (m = (a, c, ..., c), noise
    variances D), pooled training moments of U (mean mu_bar, variance V = mean sd_e^2 + Var_e mu_e) and
    g = beta . a + gamma, population least squares is w = (V m m' + D)^-1 (V g m + (sx^2 beta, 0)),
    b = (g - w . m) mu_bar, and in environment e

        MSE_e = (g - w . m)^2 ((mu_e - mu_bar)^2 + sd_e^2) + sx^2 |beta - w_x|^2 + ss^2 |w_s|^2 + sy^2.
    """
    dtype = torch.float64

    def law(mu: Sequence[float], sd: float | Sequence[float]) -> tuple[Tensor, Tensor]:
        mu_t = torch.as_tensor(mu, dtype=dtype).reshape(-1)
        return mu_t, torch.as_tensor(sd, dtype=dtype).reshape(-1).expand_as(mu_t)

    (mu_tr, sd_tr), (mu_te, sd_te) = law(train_mu, train_sd), law(test_mu, test_sd)
    ks = torch.as_tensor(list(proxies))
    if ks.ndim != 1 or ks.numel() < 1 or (ks < 0).any() or (ks > scm.n_proxies).any():
        raise ValueError(f"proxies={proxies!r}: pass proxy counts in [0, {scm.n_proxies}]")
    d, m_max = scm.d, scm.n_proxies
    a, beta = torch.tensor(scm.x_from_u, dtype=dtype), torch.tensor(scm.y_from_x, dtype=dtype)
    used = (torch.arange(m_max) < ks[:, None]).to(dtype)  # (K, M): which proxies each model sees
    m = torch.cat([a.expand(len(ks), d), scm.proxy_from_u * used], dim=1)  # (K, d + M)
    noise = torch.cat([torch.full((len(ks), d), scm.x_noise**2, dtype=dtype),
                       torch.where(used > 0, scm.proxy_noise**2, 1.0)], dim=1)  # unused: inert, any > 0
    mu_bar = mu_tr.mean()
    var_u = sd_tr.pow(2).mean() + (mu_tr - mu_bar).pow(2).mean()
    g = float(beta @ a) + scm.y_from_u
    cov = var_u * m[:, :, None] * m[:, None, :] + torch.diag_embed(noise)
    cross = var_u * g * m + torch.cat([scm.x_noise**2 * beta.expand(len(ks), d),
                                       torch.zeros(len(ks), m_max, dtype=dtype)], dim=1)
    w = torch.linalg.solve(cov, cross)
    alpha = g - (w * m).sum(1)  # (K,): the part of U the model misses
    floor = (scm.x_noise**2 * (beta - w[:, :d]).pow(2).sum(1) + scm.proxy_noise**2 * w[:, d:].pow(2).sum(1)
             + scm.y_noise**2)

    def mse(mu: Tensor, sd: Tensor) -> Tensor:
        return (alpha[:, None] ** 2 * ((mu - mu_bar).pow(2) + sd.pow(2)) + floor[:, None]).mean(1)

    return Errors(mse(mu_tr, sd_tr), mse(mu_te, sd_te))


# ---------------------------------------------------------------------------------------------
# the objectives


def env_risks(pred: Tensor, y: Tensor) -> Tensor:
    """R_e, the mean squared error in each environment: pred, y (..., E, n) → (..., E)."""
    return (pred - y).pow(2).mean(-1)


def irm_penalty(pred: Tensor, y: Tensor) -> Tensor:
    """IRMv1's penalty per environment, (d/ds R_e(s pred) at s = 1)^2 = (2 mean_n (pred - y) pred)^2.

    pred, y (..., E, n) → (..., E). Zero exactly when, in that environment, the residual is orthogonal
    to the prediction: no rescaling of the predictor would lower R_e.
    """
    return (2 * ((pred - y) * pred).mean(-1)).pow(2)


def vrex_penalty(risks: Tensor) -> Tensor:
    """V-REx's penalty, the variance of the risks over environments: (..., E) → (...)."""
    return risks.var(-1, unbiased=False)


def groupdro_weights(q: Tensor, risks: Tensor, eta: float) -> Tensor:
    """GroupDRO's exponentiated-gradient step on the group weights: q_e exp(eta R_e), renormalised.

    q, risks (..., E) → (..., E), on the simplex; weight moves toward the groups with the larger risk.
    """
    logits = q.log() + eta * risks
    return torch.softmax(logits, dim=-1)


# ---------------------------------------------------------------------------------------------
# one training loop for the four methods


@dataclass(frozen=True)
class LinearFit:
    """A fitted linear predictor y_hat = x . weight + bias, batched.

    weight (..., p), bias (...); group_weights (..., E): GroupDRO's final q (uniform for the others);
    objective (steps,): the summed training objective per step (for convergence checks).
    """

    weight: Tensor
    bias: Tensor
    group_weights: Tensor
    objective: Tensor
    method: str

    def predict(self, x: Tensor) -> Tensor:
        """x (..., E, n, p) → (..., E, n)."""
        if x.shape[-1] != self.weight.shape[-1]:
            raise ValueError(f"x has {x.shape[-1]} features, the model {self.weight.shape[-1]}")
        return (x * self.weight[..., None, None, :]).sum(-1) + self.bias[..., None, None]

    def risks(self, x: Tensor, y: Tensor) -> Tensor:
        """Per-environment mean squared error: (..., E)."""
        return env_risks(self.predict(x), y)


def _check_xy(x: Tensor, y: Tensor) -> None:
    if x.ndim < 3 or y.shape != x.shape[:-1]:
        raise ValueError(f"x {tuple(x.shape)}, y {tuple(y.shape)}: pass x (..., E, n, p) and y (..., E, n)")
    if x.shape[-2] < 2:
        raise ValueError("pass at least 2 samples per environment")
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise ValueError("x and y must be finite (no NaN or inf)")


def _combine(method: str, risks: Tensor, irm: Tensor, penalty: float, q: Tensor | None) -> Tensor:
    """A method's objective from the per-environment risks and IRM penalties (..., E) → (...)."""
    if method == "erm":
        return risks.mean(-1)
    if method == "irm":
        return risks.mean(-1) + penalty * irm.mean(-1)
    if method == "vrex":
        return risks.mean(-1) + penalty * vrex_penalty(risks)
    if method == "groupdro":
        if q is None:
            raise ValueError("groupdro needs the group weights q (..., E)")
        return (q * risks).sum(-1)
    raise ValueError(f"method={method!r}: pass one of {', '.join(METHODS)}")


def objective(method: str, pred: Tensor, y: Tensor, *, penalty: float = 1.0,
              q: Tensor | None = None) -> Tensor:
    """The training objective of `method` per problem, from samples: pred, y (..., E, n) → (...).

    `penalty` is IRM's or V-REx's lambda; GroupDRO needs its current group weights q (..., E).
    """
    return _combine(method, env_risks(pred, y), irm_penalty(pred, y), penalty, q)


class Moments(NamedTuple):
    """Per-environment second moments of phi = (z, 1) and y: gram (..., E, q, q), cross (..., E, q),
    yy (..., E). A linear model's risks and IRM penalties are exact functions of them, so training
    costs O(E q^2) per step instead of O(E n q)."""

    gram: Tensor
    cross: Tensor
    yy: Tensor

    @classmethod
    def of(cls, z: Tensor, y: Tensor) -> Moments:
        phi = torch.cat([z, torch.ones_like(z[..., :1])], dim=-1)
        n = z.shape[-2]
        return cls(phi.transpose(-1, -2) @ phi / n, (phi * y[..., None]).mean(-2), y.pow(2).mean(-1))

    def terms(self, theta: Tensor) -> tuple[Tensor, Tensor]:
        """Risks R_e and IRMv1 penalties at theta = (w, b) (..., q): both (..., E).

        With Q = mean(pred^2) = theta' G theta and L = mean(pred y) = theta' c:
        R_e = Q - 2 L + mean(y^2) and the IRM gradient 2 mean((pred - y) pred) = 2 (Q - L).
        """
        # elementwise rather than a batched matmul: tiny, and BLAS threads only add overhead here
        g_theta = (self.gram * theta[..., None, None, :]).sum(-1)  # (..., E, q)
        quad = (g_theta * theta[..., None, :]).sum(-1)
        lin = (self.cross * theta[..., None, :]).sum(-1)
        return quad - 2 * lin + self.yy, (2 * (quad - lin)).pow(2)


class _Adam:
    """Adam (Kingma & Ba 2015, Alg. 1) on one tensor, with the step size on a cosine schedule from lr
    down to lr / 1000 over `steps`. Hand-written rather than torch.optim.Adam, whose first use imports
    torch._dynamo: seconds of a quick notebook's budget for a loop over one small tensor."""

    def __init__(self, param: Tensor, lr: float, steps: int, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.param, self.lr, self.steps, self.betas, self.eps = param, lr, steps, betas, eps
        self.m, self.v, self.t = torch.zeros_like(param), torch.zeros_like(param), 0

    def step(self, grad: Tensor) -> None:
        b1, b2 = self.betas
        lr_t = self.lr * (1e-3 + (1 - 1e-3) * 0.5 * (1 + math.cos(math.pi * self.t / self.steps)))
        self.t += 1
        self.m.mul_(b1).add_(grad, alpha=1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        denom = (self.v / (1 - b2**self.t)).sqrt_().add_(self.eps)
        with torch.no_grad():
            self.param.addcdiv_(self.m, denom, value=-lr_t / (1 - b1**self.t))


def fit_methods(x: Tensor, y: Tensor, methods: Sequence[str] = METHODS, *, irm_lambda: float = 1.0,
                vrex_lambda: float = 1.0, eta: float = 0.01, steps: int = 1000, lr: float = 0.02,
                init: str = "erm") -> dict[str, LinearFit]:
    """Fit y ≈ x . w + b with each of `methods`, all in one full-batch Adam loop: {method: LinearFit}.

    x (..., E, n, p), y (..., E, n): every leading index is an independent problem. The methods are
    penalty settings of one objective (module docstring), stacked on a new leading axis and trained
    together (Adam's update is elementwise, so neither methods nor problems interact)::

        sum_e q_e R_e + lambda_irm mean_e P_e^IRM + lambda_vrex Var_e R_e

    with q uniform and fixed for ERM, IRM and V-REx and updated by GroupDRO's exponentiated-gradient
    step (`groupdro_weights`, step size eta) for GroupDRO; lambda_irm is `irm_lambda` for IRM and zero
    otherwise, likewise lambda_vrex. Features are standardised with their pooled training mean and sd (a
    reparameterisation: the objectives depend on the predictions only), the loop runs on the
    per-environment `Moments` (exact for a linear model), and the step size decays on a cosine schedule.

    init: "erm" starts every method from the least-squares (ERM) solution, the limit of DomainBed's ERM
    warm-up before the IRM / V-REx penalty is switched on: the IRMv1 objective is not convex, and from
    zero Adam can stall at points whose IRM objective is worse than at the ERM solution; "zero" starts
    from w = 0, b = mean(y).
    """
    methods = list(methods)
    if not methods or len(set(methods)) != len(methods) or any(m not in METHODS for m in methods):
        raise ValueError(f"methods={methods!r}: pass distinct names, each one of {', '.join(METHODS)}")
    _check_xy(x, y)
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps={steps!r}: pass an integer >= 1")
    for name, v in (("lr", lr), ("irm_lambda", irm_lambda), ("vrex_lambda", vrex_lambda), ("eta", eta)):
        _finite(name, v)
    if lr <= 0 or min(irm_lambda, vrex_lambda, eta) < 0:
        raise ValueError(f"lr={lr}, irm_lambda={irm_lambda}, vrex_lambda={vrex_lambda}, eta={eta}: pass "
                         "lr > 0 and non-negative penalties and eta")
    if init not in ("erm", "zero"):
        raise ValueError(f"init={init!r}: pass 'erm' or 'zero'")
    batch, e, p = x.shape[:-3], x.shape[-3], x.shape[-1]
    flat = x.reshape(*batch, -1, p)
    mean, sd = flat.mean(-2), flat.std(-2, unbiased=False)
    sd = torch.where(sd > 1e-12, sd, torch.ones_like(sd))  # constant (e.g. padding) columns stay inert
    z = (x - mean[..., None, None, :]) / sd[..., None, None, :]
    moments = Moments.of(z, y)
    theta = torch.zeros(*batch, p + 1, dtype=x.dtype, device=x.device)
    if init == "erm":
        start = least_squares(z, y)
        theta[..., :-1], theta[..., -1] = start.weight, start.bias
    else:
        theta[..., -1] = y.mean((-2, -1))
    k = len(methods)
    theta = theta.expand(k, *theta.shape).clone().requires_grad_(True)
    per_method = (k, *([1] * len(batch)))

    def weights(values: list[float]) -> Tensor:
        return torch.tensor(values, dtype=x.dtype, device=x.device).reshape(per_method)

    lam_irm = weights([irm_lambda if m == "irm" else 0.0 for m in methods])
    lam_vrex = weights([vrex_lambda if m == "vrex" else 0.0 for m in methods])
    dro = weights([float(m == "groupdro") for m in methods]).bool()[..., None]
    q = torch.full((k, *batch, e), 1.0 / e, dtype=x.dtype, device=x.device)
    adam = _Adam(theta, lr, steps)
    trace = torch.empty(k, steps, dtype=x.dtype)
    for t in range(steps):
        risks, irm = moments.terms(theta)  # (k, ..., E) each
        if dro.any():
            q = torch.where(dro, groupdro_weights(q, risks.detach(), eta), q)
        loss = (q * risks).sum(-1) + lam_irm * irm.mean(-1) + lam_vrex * vrex_penalty(risks)
        (grad,) = torch.autograd.grad(loss.sum(), theta)
        adam.step(grad)
        trace[:, t] = loss.detach().reshape(k, -1).sum(-1)
    with torch.no_grad():
        weight = theta[..., :-1] / sd
        bias = theta[..., -1] - (weight * mean).sum(-1)
    return {m: LinearFit(weight[i], bias[i], q[i], trace[i], m) for i, m in enumerate(methods)}


def fit_linear(x: Tensor, y: Tensor, method: str = "erm", *, penalty: float = 1.0, eta: float = 0.01,
               steps: int = 1000, lr: float = 0.02, init: str = "erm") -> LinearFit:
    """One method of `fit_methods`; `penalty` is its lambda (IRM, V-REx), eta GroupDRO's step size."""
    return fit_methods(x, y, [method], irm_lambda=penalty, vrex_lambda=penalty, eta=eta, steps=steps,
                       lr=lr, init=init)[method]


def least_squares(x: Tensor, y: Tensor) -> LinearFit:
    """Closed-form ERM for the squared loss: pooled least squares with an (unpenalised) intercept.

    x (..., E, n, p), y (..., E, n) → a `LinearFit` with weight (..., p), bias (...). When the design is
    rank deficient (domain statistics are constant within each environment) the weight is the
    minimum-norm solution, as in scikit-learn's LinearRegression that the paper's code uses.
    """
    _check_xy(x, y)
    flat = x.reshape(*x.shape[:-3], -1, x.shape[-1])
    target = y.reshape(*y.shape[:-2], -1)
    x_mean, y_mean = flat.mean(-2), target.mean(-1)
    centred = flat - x_mean[..., None, :]
    weight = (torch.linalg.pinv(centred) @ (target - y_mean[..., None])[..., None])[..., 0]
    e = x.shape[-3]
    q = torch.full((*x.shape[:-3], e), 1.0 / e, dtype=x.dtype, device=x.device)
    return LinearFit(weight, y_mean - (weight * x_mean).sum(-1), q, torch.empty(0, dtype=x.dtype), "erm")


# ---------------------------------------------------------------------------------------------
# the paper's experiments

TEST_SEED_OFFSET = 100_003  # held-out environments of seed s are drawn with seed s + this


def _draw(scm: ConfoundedSCM, seeds: Sequence[int], train_mu: Sequence[float],
          train_sd: float | Sequence[float], test_mu: Sequence[float], test_sd: float | Sequence[float],
          n_train: int, n_test: int) -> tuple[Environments, Environments]:
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds: pass at least one seed")
    return (scm.sample(train_mu, train_sd, n_train, seeds),
            scm.sample(test_mu, test_sd, n_test, [s + TEST_SEED_OFFSET for s in seeds]))


def compare_covariates(scm: ConfoundedSCM, seeds: Sequence[int], *, sets: Sequence[str] = COVARIATE_SETS,
                       train_mu: Sequence[float] = TRAIN_MU, train_sd: float | Sequence[float] = U_SD,
                       test_mu: Sequence[float] = TEST_MU, test_sd: float | Sequence[float] = U_SD,
                       n_train: int = N_PER_ENV, n_test: int = N_PER_ENV) -> dict[str, Errors]:
    """The intro figure: least-squares ERM on each covariate set, {set: Errors of (S,)} over seeds.

    Domain statistics of a held-out environment come from its own inputs (transductive, as the paper).
    """
    train, test = _draw(scm, seeds, train_mu, train_sd, test_mu, test_sd, n_train, n_test)
    out = {}
    for which in sets:
        x_tr, x_te = covariates(train, which), covariates(test, which)
        fit = least_squares(x_tr, train.y)
        out[which] = Errors(fit.risks(x_tr, train.y).mean(-1), fit.risks(x_te, test.y).mean(-1))
    return out


def proxy_sweep(scm: ConfoundedSCM, proxies: Sequence[int], seeds: Sequence[int], *,
                methods: Sequence[str] = METHODS, train_mu: Sequence[float] = TRAIN_MU,
                train_sd: float | Sequence[float] = U_SD, test_mu: Sequence[float] = TEST_MU,
                test_sd: float | Sequence[float] = U_SD, n_train: int = N_PER_ENV,
                n_test: int = N_PER_ENV, irm_lambda: float = 1.0, vrex_lambda: float = 1.0,
                dro_eta: float = 0.01, steps: int = 1000, lr: float = 0.02) -> dict[str, Errors]:
    """Each method on X + k proxies for every k in `proxies`: {method: Errors of (S, K)}.

    All methods, seeds and proxy counts train in one batch (`proxy_ladder`, `fit_methods`); the OOD
    error pools the held-out environments (equal sizes: the mean of their MSEs).
    """
    train, test = _draw(scm, seeds, train_mu, train_sd, test_mu, test_sd, n_train, n_test)
    x_tr = proxy_ladder(train, proxies).transpose(0, 1)  # (S, K, E, n, p)
    x_te = proxy_ladder(test, proxies).transpose(0, 1)
    y_tr = train.y[:, None].expand(*x_tr.shape[:-1])
    y_te = test.y[:, None].expand(*x_te.shape[:-1])
    fits = fit_methods(x_tr, y_tr, methods, irm_lambda=irm_lambda, vrex_lambda=vrex_lambda, eta=dro_eta,
                       steps=steps, lr=lr)
    return {m: Errors(f.risks(x_tr, y_tr).mean(-1), f.risks(x_te, y_te).mean(-1)) for m, f in fits.items()}
