r"""LookAhead and Modal LookAhead (MoLA) around any torch optimizer, with frequency-based (k, α).

LookAhead (Zhang et al. 2019; in games Chavdarova et al. 2021) runs k steps of a base optimizer from an
anchor φ and then pulls back, φ ← φ + α(θ_k − φ), θ ← φ. Around a fixed point of a game with Jacobian J,
a base GDA step of size γ multiplies each eigen-mode by T_i = 1 − γλ_i = R_i e^{−iθ_i}, so one LookAhead
cycle multiplies it by (Sanyal et al. 2026, arXiv 2601.18409, the modal analysis of LookAhead)

.. math::  \rho_i(k, \alpha) = \left|(1-\alpha) + \alpha\, T_i^{\,k}\right| .

MoLA estimates the dominant oscillation (R, θ) from Jacobian-vector products and picks (k, α) so that the
mode is annihilated, T^k = −(1 − α)/α: an amplitude match R^k = (1 − α)/α and a phase match kθ = π(2m + 1);
a pair is admissible only if it is Schur-stable on every known mode,
α ≤ α_max(k) = min_i 2(1 − Re T_i^k)/|1 − T_i^k|², which is the same as ρ_i ≤ 1.

The wrappers keep the torch.optim contract: `param_groups` are the base optimizer's (with extra keys
`lookahead_k`, `lookahead_alpha`, `lookahead_step`), `step(closure)`, `zero_grad()`, and a
`state_dict()` that round-trips the base state, the slow weights and the per-group (k, α).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor

from relml.optim.wrapper import OptimizerWrapper

Reference = Literal["dominant", "weighted"]
Criterion = Literal["per_step", "per_cycle"]


# ---------------------------------------------------------------------------------------------
# modal algebra


def _modes(multipliers: Tensor | Iterable[complex]) -> Tensor:
    t = torch.as_tensor(multipliers).detach().cpu().to(torch.complex128).reshape(-1)
    if t.numel() == 0:
        raise ValueError("pass at least one mode multiplier T_i = 1 - lr * lambda_i")
    if not torch.isfinite(torch.view_as_real(t)).all():
        raise ValueError("mode multipliers contain NaN or inf; check the eigenvalue estimate")
    return t


def base_multipliers(eigenvalues: Tensor, lr: float) -> Tensor:
    """T_i = 1 − γ λ_i: the factor by which one GDA step of size γ scales Jacobian eigen-mode i."""
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    return 1 - lr * _modes(eigenvalues)


def _power(t: Tensor, k: Tensor) -> Tensor:
    # T^k in polar form, exact for integer k and cheap to broadcast
    k = k.to(torch.float64)
    return torch.polar(t.abs() ** k, t.angle() * k)


def lookahead_contraction(multipliers: Tensor, k: int | Tensor, alpha: float | Tensor) -> Tensor:
    """ρ_i = |(1 − α) + α T_i^k|, the per-cycle contraction of each mode (broadcasts over all inputs)."""
    t = torch.as_tensor(multipliers).to(torch.complex128)
    k = torch.as_tensor(k)
    alpha = torch.as_tensor(alpha, dtype=torch.float64)
    return ((1 - alpha) + alpha * _power(t, k)).abs()


def max_stable_alpha(multipliers: Tensor, k: int) -> float:
    """α_max(k) = min_i 2(1 − Re T_i^k) / |1 − T_i^k|² (Schur stability of every mode; ≤ 0: none)."""
    w = _power(_modes(multipliers), torch.tensor(k))
    den = (1 - w).abs() ** 2
    bound = torch.where(den > 0, 2 * (1 - w.real) / den.clamp_min(1e-300), torch.full_like(den, math.inf))
    return float(bound.min())


class ModalChoice(NamedTuple):
    """The selected LookAhead hyperparameters and their predicted contraction on the known modes."""

    k: int
    alpha: float
    rho: float  # max_i ρ_i(k, α), per cycle of k base steps
    rate: float  # rho ** (1 / k), per base step


DEFAULT_ALPHAS = torch.linspace(0.02, 0.98, 97, dtype=torch.float64)


def _check_selection(reference: str, criterion: str, alphas: Tensor | None, k_min: int, k_max: int) -> Tensor:
    if reference not in ("dominant", "weighted"):
        raise ValueError(f"reference must be 'dominant' or 'weighted', got {reference!r}")
    if criterion not in ("per_step", "per_cycle"):
        raise ValueError(f"criterion must be 'per_step' or 'per_cycle', got {criterion!r}")
    if not (isinstance(k_min, int) and isinstance(k_max, int) and 1 <= k_min <= k_max):
        raise ValueError(f"need integers 1 <= k_min <= k_max, got {k_min}, {k_max}")
    a = DEFAULT_ALPHAS if alphas is None else torch.as_tensor(alphas, dtype=torch.float64).reshape(-1)
    if a.numel() == 0 or not bool(((a > 0) & (a <= 1)).all()):
        raise ValueError("alphas must be a non-empty grid in (0, 1]")
    return a


@torch.no_grad()
def _select(t: Tensor, a: Tensor, reference: str, criterion: str, k_min: int, k_max: int
            ) -> tuple[Tensor, Tensor, Tensor]:
    """`modal_hyperparameters` for G independent mode sets at once: t (G, m) → k, α, ρ, each (G,)."""
    mag = t.abs()
    if reference == "dominant":
        ref = t.gather(1, mag.argmax(1, keepdim=True)).squeeze(1)
    else:
        ref = (mag * t).sum(1) / mag.sum(1)
    log_r, theta = ref.abs().log()[:, None], ref.angle().abs()[:, None]  # (G, 1)
    nan = torch.tensor(math.nan, dtype=torch.float64)
    k_amp = torch.log((1 - a) / a) / log_r  # amplitude match R^k = (1 − α)/α; (G, A), ±inf/nan if R = 1
    amp_ok = torch.isfinite(k_amp) & (k_amp > 0)
    k_amp = torch.where(amp_ok, k_amp, nan)
    # phase match kθ = π(2m + 1), with the odd multiple nearest the amplitude solution (m = 0 without one)
    m = torch.where(amp_ok, ((theta * k_amp / math.pi - 1) / 2).round().clamp_min(0), 0.0)
    k_phase = torch.where(theta > 1e-12, math.pi * (2 * m + 1) / theta.clamp_min(1e-300), nan)
    cand = torch.stack([k_phase.floor(), k_phase.ceil(), k_amp.floor(), k_amp.ceil()], dim=-1)
    cand = torch.nan_to_num(cand, nan=k_min, posinf=k_max, neginf=k_min).clamp(k_min, k_max).long()
    alpha = a[:, None].expand_as(cand)  # (G, A, 4)
    rho = lookahead_contraction(t[:, None, None, :], cand[..., None], alpha[..., None]).amax(-1)
    score = rho ** (1.0 / cand) if criterion == "per_step" else rho
    stable = rho <= 1 + 1e-12
    keep = stable | ~stable.flatten(1).any(1)[:, None, None]  # none stable: the least unstable wins
    best = torch.where(keep, score, math.inf).flatten(1).argmin(1, keepdim=True)
    pick = [x.flatten(1).gather(1, best).squeeze(1) for x in (cand, alpha, rho)]
    return pick[0], pick[1], pick[2]


def modal_hyperparameters(multipliers: Tensor, *, reference: Reference = "dominant",
                          alphas: Tensor | None = None, k_min: int = 2, k_max: int = 256,
                          criterion: Criterion = "per_step") -> ModalChoice:
    """MoLA's frequency-based (k, α) from the base-step mode multipliers T_i (the paper; official code).

    For every α on the grid (default linspace(0.02, 0.98, 97)) the reference mode T = R e^{−iθ}
    gives the amplitude match k_amp = ln((1 − α)/α) / ln R and the phase match k_phase = π(2m + 1)/θ with
    m = max(0, round((θ k_amp/π − 1)/2)), the odd multiple of π nearest the amplitude solution; the floor
    and ceiling of both, clipped to [k_min, k_max], are the candidate k. A candidate is kept if it is
    Schur-stable on every given mode (ρ_i ≤ 1), and the kept pair with the smallest contraction wins:
    per base step, ρ^{1/k} (default), or per cycle, ρ (as in the official selector). Per step is our
    choice: it is the rate in base gradient evaluations, the paper's x-axis, and it breaks the near-ties
    between exact annihilations (m = 0, 1, 2, ...) in favour of the shortest cycle, whereas the per-cycle
    score may pick a k several half-turns long that makes modes the estimate does not know grow.

    Parameters
    ----------
    multipliers : complex (m,), the known modes T_i = 1 − γλ_i (e.g. the top conjugate pair).
    reference : "dominant" (the largest |T_i|) or "weighted" (Σ|T_i| T_i / Σ|T_i|) mode to match.
    """
    t = _modes(multipliers)
    a = _check_selection(reference, criterion, alphas, k_min, k_max)
    k, alpha, rho = (float(x) for x in _select(t[None], a, reference, criterion, k_min, k_max))
    return ModalChoice(int(k), alpha, rho, rho ** (1.0 / k))


# ---------------------------------------------------------------------------------------------
# frequency estimation from gradient oracles and Jacobian-vector products


def top_singular_value(matvec: Callable[[Tensor], Tensor], rmatvec: Callable[[Tensor], Tensor], v0: Tensor,
                       iters: int = 50) -> Tensor:
    """σ_max(A) by power iteration on AᵀA with gradient oracles only (the official `grad_bilinear` mode).

    For f = xᵀAy, matvec(v) = ∇_x f(·, y=v) = A v and rmatvec(u) = ∇_y f(x=u, ·) = Aᵀ u; the Jacobian's
    dominant eigenvalues are then ±iσ_max. v0: (..., d_y) random nonzero start (a batch of games runs at
    once if the oracles accept batches). Returns σ_max, shape (...,).
    """
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    norm = torch.linalg.vector_norm(v0, dim=-1, keepdim=True)
    if not (torch.isfinite(v0).all() and (norm > 0).all()):
        raise ValueError("v0 must be finite and nonzero")
    v = v0 / norm
    for _ in range(iters):
        w = rmatvec(matvec(v))
        v = w / torch.linalg.vector_norm(w, dim=-1, keepdim=True).clamp_min(1e-300)
    return torch.linalg.vector_norm(matvec(v), dim=-1)


def ritz_eigenvalues(jvp: Callable[[Tensor], Tensor], v0: Tensor, steps: int = 20) -> Tensor:
    """Eigenvalue estimates of the Jacobian J from `steps` Jacobian-vector products (Arnoldi).

    The official HVP backend runs a power iteration on G = I − γJ; a single real power iterate cannot
    separate the complex-conjugate pair that carries a game's rotation, so we keep all the power iterates:
    Arnoldi builds an orthonormal basis Q of the Krylov space span{v, Jv, ..., J^{s−1}v} and returns the
    eigenvalues of H = Qᵀ J Q (s × s), whose outer values converge first to J's outer eigenvalues, the
    largest |1 − γλ|. jvp: v (..., n) ↦ J v (..., n), batched over independent games; v0: (..., n)
    nonzero start. Returns complex (..., s), s = min(steps, n) (fewer if the Krylov space closes early,
    in which case the values are exact).
    """
    n = v0.shape[-1]
    steps = min(int(steps), n)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    batch = v0.shape[:-1]
    v = v0.detach().reshape(-1, n).to(torch.float64)
    norm = torch.linalg.vector_norm(v, dim=-1, keepdim=True)
    if not (torch.isfinite(v).all() and (norm > 0).all()):
        raise ValueError("v0 must be finite and nonzero")
    q = v.new_zeros(v.shape[0], steps + 1, n)
    h = v.new_zeros(v.shape[0], steps + 1, steps)
    q[:, 0] = v / norm
    size = steps
    for j in range(steps):
        basis = q[:, : j + 1]  # (B, j + 1, n)
        w = jvp(q[:, j].reshape(*batch, n).to(v0.dtype)).reshape(-1, n).to(torch.float64)
        # projections as broadcast products: a batch of tiny mat-vecs is slow through bmm on the CPU
        c = (basis * w.unsqueeze(1)).sum(-1)
        w = w - (c.unsqueeze(-1) * basis).sum(1)
        c2 = (basis * w.unsqueeze(1)).sum(-1)  # Gram-Schmidt twice: orthonormal in floating point
        w = w - (c2.unsqueeze(-1) * basis).sum(1)
        h[:, : j + 1, j] = c + c2
        beta = torch.linalg.vector_norm(w, dim=-1)
        h[:, j + 1, j] = beta
        if bool((beta <= 1e-12 * h[:, : j + 1, j].abs().amax(-1)).any()):
            size = j + 1  # a Krylov space closed: its eigenvalues are exact; stop every game here
            break
        q[:, j + 1] = w / beta.unsqueeze(-1)
    return torch.linalg.eigvals(h[:, :size, :size]).reshape(*batch, size)


def top_modes(eigenvalues: Tensor, lr: float) -> Tensor:
    """The dominant mode T = 1 − γλ (largest |T|) of the estimates and its conjugate, complex (2,)."""
    t = base_multipliers(eigenvalues, lr)
    top = t[t.abs().argmax()]
    return torch.stack([top, top.conj()])


# ---------------------------------------------------------------------------------------------
# optimizer wrappers


class LookAhead(OptimizerWrapper):
    r"""LookAhead around any torch optimizer: every k base steps, φ ← φ + α(θ − φ), θ ← φ.

    .. math::
        \varphi_{t+1} = (1-\alpha)\,\varphi_t + \alpha\, \theta_{t,k},\qquad \theta_{t+1,0} = \varphi_{t+1}

    (Zhang et al. 2019, Alg. 1). k and α live in each param group (`lookahead_k`, `lookahead_alpha`)
    and may differ per group; the anchor φ is taken at the first step. With k = 1 and α = 1 it is the
    base optimizer itself.

    Example::

        opt = LookAhead(torch.optim.SGD(model.parameters(), lr=0.1), k=5, alpha=0.5)
        loss = f(model); opt.zero_grad(); loss.backward(); opt.step()
    """

    def __init__(self, optimizer: torch.optim.Optimizer, k: int = 5, alpha: float = 0.5) -> None:
        _check_k_alpha(k, alpha)
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)  # slow weights
        super().__init__(optimizer, {"lookahead_k": int(k), "lookahead_alpha": float(alpha)})

    def _init_group(self, group: dict[str, Any]) -> None:
        group.setdefault("lookahead_k", self.defaults["lookahead_k"])
        group.setdefault("lookahead_alpha", self.defaults["lookahead_alpha"])
        group.setdefault("lookahead_step", 0)  # base steps taken in the current cycle
        group.setdefault("lookahead_cycles", 0)
        _check_k_alpha(group["lookahead_k"], group["lookahead_alpha"])

    def _start_cycles(self, groups: list[dict[str, Any]]) -> None:
        """Hook before the first base step of a cycle, for the groups starting one; MoLA retunes here."""

    @torch.no_grad()
    def _average(self, group: dict[str, Any]) -> None:
        fast = list(group["params"])
        slow = [self.state[p]["slow"] for p in fast]
        torch._foreach_lerp_(slow, fast, group["lookahead_alpha"])  # lerp is exact at α = 1
        torch._foreach_copy_(fast, slow)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One base step; each group that completes its k-th step of the cycle is averaged."""
        self._pre_step(closure)
        starting = [group for group in self.param_groups if group["lookahead_step"] == 0]
        if starting:
            for group in starting:
                for p in group["params"]:
                    if "slow" not in self.state[p]:
                        self.state[p]["slow"] = p.detach().clone()
            self._start_cycles(starting)
        loss = self.optimizer.step(closure)
        for group in self.param_groups:
            group["lookahead_step"] += 1
            if group["lookahead_step"] >= group["lookahead_k"]:
                self._average(group)
                group["lookahead_step"] = 0
                group["lookahead_cycles"] += 1
        self._post_step(closure)
        return loss

    def state_dict(self) -> dict[str, Any]:
        """The base optimizer's state dict (groups include k, α) plus the slow weights by param index."""
        sd = self.optimizer.state_dict()
        slow, index = {}, 0
        for group in self.param_groups:
            for p in group["params"]:
                if "slow" in self.state.get(p, {}):
                    slow[index] = self.state[p]["slow"]
                index += 1
        sd["lookahead"] = {"slow": slow}
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        sd = dict(state_dict)
        saved = sd.pop("lookahead", None)
        if saved is None:
            raise ValueError("not a LookAhead state dict (no 'lookahead' entry); load a base optimizer's "
                             "state into `.optimizer` instead")
        self.optimizer.load_state_dict(sd)
        params = [p for group in self.param_groups for p in group["params"]]
        self.state = defaultdict(dict)
        for index, tensor in saved["slow"].items():
            p = params[int(index)]
            self.state[p]["slow"] = tensor.detach().to(device=p.device, dtype=p.dtype).clone()
        for group in self.param_groups:
            self._init_group(group)

    def __repr__(self) -> str:
        ks = sorted({(g["lookahead_k"], round(g["lookahead_alpha"], 4)) for g in self.param_groups})
        return f"{type(self).__name__}(k, alpha in {ks}, base={self.optimizer!r})"


def _check_k_alpha(k: Any, alpha: Any) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an integer >= 1 (base steps per cycle), got {k!r}")
    if not (isinstance(alpha, (int, float)) and 0 < alpha <= 1):
        raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")


class ModalLookAhead(LookAhead):
    r"""Modal LookAhead (MoLA, Sanyal et al. 2026): LookAhead whose (k, α) annihilate the dominant mode.

    At the first step (and every `retune_every` cycles, if given) it calls `spectrum(group)`, which
    returns estimates of the eigenvalues λ of the game Jacobian at the group's current parameters (e.g.
    `ritz_eigenvalues` from a few Jacobian-vector products, or ±iσ_max from `top_singular_value`), forms
    the base multipliers T = 1 − γλ with the group's learning rate γ, and sets (k, α) by
    `modal_hyperparameters` on the top conjugate pair (`modes="top"`, the official default) or on all
    estimates (`modes="all"`). The multipliers are exact for plain SGD (GDA) as the base optimizer.
    Without `spectrum`, call `retune(eigenvalues)` yourself; until then (k, α) are the given defaults.
    The last choice is kept per group: `modal_rho` (predicted per-cycle contraction of the known modes)
    and `modal_rate` (per base step).
    """

    def __init__(self, optimizer: torch.optim.Optimizer,
                 spectrum: Callable[[dict[str, Any]], Tensor] | None = None, *, k: int = 5,
                 alpha: float = 0.5, modes: Literal["top", "all"] = "top", reference: Reference = "dominant",
                 criterion: Criterion = "per_step", alphas: Tensor | None = None, k_min: int = 2,
                 k_max: int = 256, retune_every: int | None = None) -> None:
        if modes not in ("top", "all"):
            raise ValueError(f"modes must be 'top' or 'all', got {modes!r}")
        if retune_every is not None and (not isinstance(retune_every, int) or retune_every < 1):
            raise ValueError(f"retune_every must be None (tune once) or a number of cycles >= 1, "
                             f"got {retune_every!r}")
        self.spectrum, self.modes, self.retune_every = spectrum, modes, retune_every
        self.alphas = _check_selection(reference, criterion, alphas, k_min, k_max)
        self.selection = {"reference": reference, "criterion": criterion, "k_min": k_min, "k_max": k_max}
        super().__init__(optimizer, k=k, alpha=alpha)

    def _init_group(self, group: dict[str, Any]) -> None:
        super()._init_group(group)
        group.setdefault("modal_rho", math.nan)
        group.setdefault("modal_rate", math.nan)
        group.setdefault("modal_tuned_at", -1)  # cycle of the last retune (-1: never)

    def _start_cycles(self, groups: list[dict[str, Any]]) -> None:
        if self.spectrum is None:
            return
        every = self.retune_every
        due = [g for g in groups if g["modal_tuned_at"] < 0
               or (every is not None and g["lookahead_cycles"] - g["modal_tuned_at"] >= every)]
        if due:
            self._tune(due, [self.spectrum(g) for g in due])

    def _tune(self, groups: list[dict[str, Any]], eigenvalues: list[Tensor]) -> list[ModalChoice]:
        modes = []
        for group, lam in zip(groups, eigenvalues, strict=True):
            if "lr" not in group:
                raise ValueError("MoLA needs the base optimizer's step size: its param groups have no 'lr'")
            lr = float(group["lr"])
            modes.append(top_modes(lam, lr) if self.modes == "top" else base_multipliers(lam, lr))
        if len({t.numel() for t in modes}) == 1:  # one batched search for all groups
            picks = _select(torch.stack(modes), self.alphas, **self.selection)
        else:
            each = [_select(t[None], self.alphas, **self.selection) for t in modes]
            picks = tuple(torch.cat(x) for x in zip(*each, strict=True))
        choices = []
        for group, k, alpha, rho in zip(groups, *(x.tolist() for x in picks), strict=True):
            choice = ModalChoice(int(k), alpha, rho, rho ** (1.0 / k))
            group["lookahead_k"], group["lookahead_alpha"] = choice.k, choice.alpha
            group["modal_rho"], group["modal_rate"] = choice.rho, choice.rate
            group["modal_tuned_at"] = group["lookahead_cycles"]
            choices.append(choice)
        return choices

    def retune(self, eigenvalues: Tensor | Sequence[Tensor] | None = None) -> list[ModalChoice]:
        """Re-select (k, α) for every group now: from `eigenvalues` (one tensor for all groups, or a
        sequence with one tensor per group) or, if None, from `spectrum(group)`."""
        groups = self.param_groups
        if eigenvalues is None:
            if self.spectrum is None:
                raise ValueError("pass the Jacobian's eigenvalues, or construct ModalLookAhead with "
                                 "spectrum=")
            per_group = [self.spectrum(g) for g in groups]
        elif isinstance(eigenvalues, Tensor):
            per_group = [eigenvalues] * len(groups)
        else:
            per_group = list(eigenvalues)
            if len(per_group) != len(groups):
                raise ValueError(f"pass one eigenvalue tensor per param group ({len(groups)}), "
                                 f"got {len(per_group)}")
        return self._tune(groups, per_group)


def predicted_factors(eigenvalues: Tensor, lr: float, schedules: dict[str, tuple[int, float]]
                      ) -> dict[str, Tensor]:
    """Predicted contraction per base gradient evaluation of every Jacobian mode λ (eigenvalues: (d,)).

    GDA: |1 − ηλ|; EG: |1 − ηλ + (ηλ)²|^{1/2} (two evaluations per step); each named LookAhead
    schedule (k, α): ρ_LA(1 − ηλ)^{1/k}, one cycle costing k evaluations.
    """
    t = 1 - lr * eigenvalues
    out = {"gda": t.abs(), "eg": (1 - lr * eigenvalues + (lr * eigenvalues) ** 2).abs() ** 0.5}
    out.update({name: lookahead_contraction(t, k, a) ** (1 / k) for name, (k, a) in schedules.items()})
    return out


def lookahead_arms(jvp: Callable[[Tensor], Tensor], v0: Tensor, lr: float, *, k: int, alpha: float,
                   estimate_steps: int, k_max: int, name: str = "LookAhead"
                   ) -> dict[str, Callable[[Any], torch.optim.Optimizer]]:
    """Optimizer factories for fixed LookAhead(k, α) and MoLA, both around SGD at `lr` (= GDA on a game).

    MoLA's spectrum is estimated once by `estimate_steps` Arnoldi steps from v0 ((games, d): one J·v product
    each, all games at once); a parameter group's "game" index picks its estimate. For quadratic games the
    Jacobian is the same at every point, so estimating once is exact.
    """
    estimates = ritz_eigenvalues(jvp, v0, estimate_steps)

    def spectrum(group: dict[str, Any]) -> Tensor:
        return estimates[group["game"]]

    return {name: lambda g: LookAhead(torch.optim.SGD(g, lr=lr), k=k, alpha=alpha),
            "MoLA": lambda g: ModalLookAhead(torch.optim.SGD(g, lr=lr), spectrum, k_max=k_max)}
