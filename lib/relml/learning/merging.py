"""Model merging over state_dicts: task arithmetic, TIES, TSV and SCORE, and the subspace-alignment ratio.

Every model fine-tuned from one pretrained checkpoint θ_0 gives a task vector τ_t = θ_t − θ_0 (a dict of
tensors keyed like the state_dict). A merge method maps the list [τ_1, …, τ_T] to one merged vector τ,
and the merged model is θ = θ_0 + λ τ (`apply_task_vector`; the paper uses λ = 1 for every method).

- `task_arithmetic` (Ilharco et al. 2023): τ = Σ_t τ_t.
- `ties` (Yadav et al. 2023): keep each τ_t's top `keep` fraction by magnitude, elect each entry's sign
  by total mass, average the surviving entries that agree with it (disjoint mean).
- `tsv` (Gargiulo et al. 2025, TSV-M): per 2-D layer, each task's top ⌊r/T⌋ singular triplets are
  concatenated, the singular-vector blocks orthogonalised by their polar factor, and the layer is
  rebuilt as U_* diag(s_cat) V_*.
- `score` (Chaves, Zhou, Burkholz, Valle, Avila, "Bridging Domains through Subspace-Aware Model
  Merging", CVPR 2026, arXiv 2603.05768): the same shared basis (U_*, V_*), then every task matrix is
  written in it, M_t = U_*ᵀ Δ_t V_*ᵀ (r × r); its diagonal (agreement with the shared directions) is
  kept, its off-diagonal entries (cross-talk between directions) are kept only when
  |m − μ_off| ≤ ς σ_off / T (ς = 1.96), and the layer is U_* (Σ_t trim(M_t)) V_*.

TSV and SCORE act on the 2-D tensors (weight matrices); other tensors (biases, norms) and 2-D keys
listed in `exclude` are averaged, as in the official code (`VirtualSpaceman/score_cvpr26`). Per layer
the T task matrices are stacked to (T, m, n) and decomposed with one batched SVD.

`subspace_alignment` is the paper's measure of subspace conflict, the subspace alignment ratio (SAR;
Eq. 5 as the official analysis script numbers it): the share of task i's update (Frobenius norm) that
lies in task j's leading left singular subspace, whose rank keeps a fraction `energy` of the norm
(Eq. 6 there; 0.97 in the official analysis). Domain experts overlapping more (higher off-diagonal
SAR) is what the paper calls a stronger subspace conflict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial

import numpy as np
import torch
from torch import Tensor

StateDict = Mapping[str, Tensor]
Merger = Callable[..., dict[str, Tensor]]

# ---------------------------------------------------------------------------------------------
# task vectors


def _check_compatible(dicts: Sequence[StateDict], what: str) -> None:
    if len(dicts) == 0:
        raise ValueError(f"pass a non-empty list of {what}")
    keys = list(dicts[0])
    for i, d in enumerate(dicts[1:], start=1):
        if list(d) != keys:
            diff = sorted(set(d) ^ set(keys))
            raise ValueError(f"{what} {i} has keys that differ from {what} 0 ({diff[:4]}...): "
                             "pass state_dicts of one architecture")
        for k in keys:
            if d[k].shape != dicts[0][k].shape:
                raise ValueError(f"{what} {i}[{k!r}] has shape {tuple(d[k].shape)}, {what} 0 has "
                                 f"{tuple(dicts[0][k].shape)}: pass state_dicts of one architecture")
    for i, d in enumerate(dicts):
        for k, v in d.items():
            if v.is_floating_point() and not bool(torch.isfinite(v).all()):
                raise ValueError(f"{what} {i}[{k!r}] holds NaN or inf: pass finite parameters")


def _float_keys(sd: StateDict) -> list[str]:
    return [k for k, v in sd.items() if v.is_floating_point()]


def task_vector(finetuned: StateDict, pretrained: StateDict) -> dict[str, Tensor]:
    """τ = θ_ft − θ_0 for every floating-point entry of the state_dicts (buffers like counters skipped)."""
    _check_compatible([pretrained, finetuned], "state_dict")
    return {k: (finetuned[k] - pretrained[k]).detach().clone() for k in _float_keys(pretrained)}


def apply_task_vector(pretrained: StateDict, tau: StateDict, coef: float = 1.0) -> dict[str, Tensor]:
    """θ = θ_0 + coef · τ; entries of θ_0 absent from τ are copied unchanged."""
    if not np.isfinite(coef):
        raise ValueError(f"coef={coef!r}: pass a finite scaling coefficient (the paper uses 1.0)")
    missing = sorted(set(tau) - set(pretrained))
    if missing:
        raise ValueError(f"task vector has keys {missing[:4]} that the pretrained state_dict lacks")
    out = {}
    for k, v in pretrained.items():
        if k in tau:
            if tau[k].shape != v.shape:
                raise ValueError(f"task vector [{k!r}] has shape {tuple(tau[k].shape)}, the model "
                                 f"{tuple(v.shape)}: pass a task vector of this architecture")
            out[k] = v + coef * tau[k].to(v.dtype)
        else:
            out[k] = v.clone()
    return out


# ---------------------------------------------------------------------------------------------
# flat baselines


def task_arithmetic(task_vectors: Sequence[StateDict]) -> dict[str, Tensor]:
    """Task arithmetic: τ = Σ_t τ_t (the scaling λ is applied by `apply_task_vector`)."""
    _check_compatible(task_vectors, "task vector")
    return {k: torch.stack([tv[k] for tv in task_vectors]).sum(0) for k in task_vectors[0]}


def average(task_vectors: Sequence[StateDict]) -> dict[str, Tensor]:
    """Weight averaging (a model soup): τ = (1/T) Σ_t τ_t, i.e. task arithmetic with λ = 1/T."""
    _check_compatible(task_vectors, "task vector")
    return {k: torch.stack([tv[k] for tv in task_vectors]).mean(0) for k in task_vectors[0]}


def flatten(task_vectors: Sequence[StateDict]) -> Tensor:
    """Stack task vectors as rows of one matrix: (T, P), keys in the order of the first dict."""
    return torch.stack([torch.cat([tv[k].reshape(-1) for k in tv]) for tv in task_vectors])


def unflatten(flat: Tensor, like: StateDict) -> dict[str, Tensor]:
    """Inverse of `flatten` for one row: flat (P,) → dict shaped like `like`."""
    out, i = {}, 0
    for k, v in like.items():
        out[k] = flat[i : i + v.numel()].reshape(v.shape).clone()
        i += v.numel()
    if i != flat.numel():
        raise ValueError(f"flat vector has {flat.numel()} entries, the state_dict {i}")
    return out


def ties_flat(flat: Tensor, keep: float = 0.2) -> Tensor:
    """TIES on flattened task vectors flat (T, P) → merged (P,) (Yadav et al. 2023, Sec. 3).

    1. trim: per task keep the entries whose magnitude reaches its top-`keep` quantile;
    2. elect: γ = sign(Σ_t trimmed_t), zero sums taking the sign of Σ γ (majority);
    3. disjoint mean: average, per entry, the trimmed values whose sign agrees with γ.
    """
    if flat.ndim != 2:
        raise ValueError(f"flat has shape {tuple(flat.shape)}: pass (tasks, parameters)")
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep={keep!r}: pass the fraction of entries each task keeps, in (0, 1]")
    T, P = flat.shape
    n_drop = int(P * (1.0 - keep))
    if n_drop > 0:
        kth = flat.abs().kthvalue(n_drop, dim=1, keepdim=True).values
        trimmed = flat * (flat.abs() > kth)
    else:
        trimmed = flat.clone()
    sign = torch.sign(trimmed.sum(0))
    sign[sign == 0] = torch.sign(sign.sum()) if sign.sum() != 0 else 1.0
    agree = torch.where(sign > 0, trimmed > 0, trimmed < 0)
    chosen = trimmed * agree
    return chosen.sum(0) / agree.sum(0).clamp(min=1)


def ties(task_vectors: Sequence[StateDict], keep: float = 0.2) -> dict[str, Tensor]:
    """TIES merging over whole models (the official baseline: top 20%, sign by mass, disjoint mean)."""
    _check_compatible(task_vectors, "task vector")
    return unflatten(ties_flat(flatten(task_vectors), keep), task_vectors[0])


# ---------------------------------------------------------------------------------------------
# per-layer SVD methods


def _check_stack(mats: Tensor) -> tuple[int, int, int, int]:
    if mats.ndim != 3:
        raise ValueError(f"task matrices have shape {tuple(mats.shape)}: pass (tasks, out, in)")
    T, m, n = mats.shape
    r = min(m, n)
    if r < T:
        raise ValueError(f"a layer of rank at most {r} cannot hold {T} tasks' subspaces (rank >= T "
                         "needed): merge fewer models or exclude this layer")
    if not bool(torch.isfinite(mats).all()):
        raise ValueError("task matrices hold NaN or inf: pass finite task vectors")
    return T, m, n, r


def polar_factor(a: Tensor) -> Tensor:
    """The orthogonal polar factor P Qᵀ of a = P S Qᵀ (thin SVD): the nearest matrix with orthonormal
    columns (rows, for a wide a) in Frobenius norm. a: (..., m, n) → (..., m, n)."""
    p, _, qh = torch.linalg.svd(a, full_matrices=False)
    return p @ qh


def concatenated_singular_vectors(mats: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Each task's top k = ⌊r/T⌋ singular triplets, concatenated and zero-padded to rank r.

    mats: (T, m, n). Returns U_cat (m, r) = [U_1[:, :k] … U_T[:, :k] 0], s_cat (r,) and V_cat (r, n)
    whose rows are the tasks' top right singular vectors (Δ_t ≈ U_t diag(s_t) V_t, V_t with rows).
    """
    T, m, n, r = _check_stack(mats)
    k = r // T
    u, s, vh = torch.linalg.svd(mats, full_matrices=False)  # (T, m, r), (T, r), (T, r, n)
    u_cat = torch.zeros(m, r, dtype=mats.dtype, device=mats.device)
    v_cat = torch.zeros(r, n, dtype=mats.dtype, device=mats.device)
    s_cat = torch.zeros(r, dtype=mats.dtype, device=mats.device)
    u_cat[:, : T * k] = u[:, :, :k].permute(1, 0, 2).reshape(m, T * k)
    v_cat[: T * k] = vh[:, :k].reshape(T * k, n)
    s_cat[: T * k] = s[:, :k].reshape(T * k)
    return u_cat, s_cat, v_cat


def shared_basis(mats: Tensor) -> tuple[Tensor, Tensor]:
    """The shared orthogonal basis of SCORE and TSV (SCORE's first step): polar factors of the concatenated
    leading singular vectors. mats: (T, m, n) → U_* (m, r) with orthonormal columns, V_* (r, n) with
    orthonormal rows, r = min(m, n)."""
    u_cat, _, v_cat = concatenated_singular_vectors(mats)
    return polar_factor(u_cat), polar_factor(v_cat)


def tsv_layer(mats: Tensor) -> Tensor:
    """TSV-M of one layer: U_* diag(s_cat) V_*. mats: (T, m, n) → (m, n)."""
    u_cat, s_cat, v_cat = concatenated_singular_vectors(mats)
    return (polar_factor(u_cat) * s_cat) @ polar_factor(v_cat)


PARTS = ("trimmed", "diagonal", "off_diagonal", "full")
"""Which entries of the projected task matrices SCORE keeps: the method ("trimmed") and the paper's
ablation table: only the diagonal, only the trimmed off-diagonal, everything (no trimming)."""


def trim_off_diagonal(m: Tensor, threshold: float, part: str = "trimmed") -> Tensor:
    """SCORE's trim: keep the diagonal, zero the off-diagonal outliers.

    m: (T, r, r). Per task, μ and σ are the mean and (unbiased) std of the matrix with its diagonal
    zeroed, as in the official code; an off-diagonal entry survives when |m_ij − μ| ≤ threshold · σ.
    `part` selects the ablations of `PARTS` ("diagonal": no off-diagonal entry, "full": all of them).
    """
    if m.ndim != 3 or m.shape[1] != m.shape[2]:
        raise ValueError(f"m has shape {tuple(m.shape)}: pass square matrices (tasks, r, r)")
    if part not in PARTS:
        raise ValueError(f"part={part!r}: pass one of {', '.join(map(repr, PARTS))}")
    eye = torch.eye(m.shape[-1], dtype=torch.bool, device=m.device)
    if part == "diagonal":
        return m * eye
    if part == "full":
        return m.clone()
    off = m.masked_fill(eye, 0.0)
    mu = off.mean((1, 2), keepdim=True)
    sd = off.flatten(1).std(1).view(-1, 1, 1) if off[0].numel() > 1 else torch.zeros_like(mu)
    keep = (off - mu).abs() <= threshold * sd
    return m * (keep & ~eye) if part == "off_diagonal" else m * (keep | eye)


def score_layer(mats: Tensor, threshold: float = 1.96, per_task: bool = True, part: str = "trimmed"
                ) -> Tensor:
    """SCORE of one layer: U_* (Σ_t trim(U_*ᵀ Δ_t V_*ᵀ)) V_*.

    mats: (T, m, n) → (m, n). The off-diagonal cut is threshold · σ_off / T when `per_task` (the
    paper's natural-image setting) and threshold · σ_off otherwise (its medical data sets); `part`
    picks an ablation of `PARTS`.
    """
    if not threshold >= 0:
        raise ValueError(f"threshold={threshold!r}: pass a non-negative multiple of the std (1.96)")
    T = _check_stack(mats)[0]
    u, v = shared_basis(mats)
    m = u.T @ mats @ v.T  # (T, r, r)
    sigma = trim_off_diagonal(m, threshold / T if per_task else threshold, part).sum(0)
    return u @ sigma @ v


def _by_layer(task_vectors: Sequence[StateDict], layer_fn: Callable[[Tensor], Tensor],
              exclude: Sequence[str]) -> dict[str, Tensor]:
    _check_compatible(task_vectors, "task vector")
    out = {}
    for key in task_vectors[0]:
        stack = torch.stack([tv[key] for tv in task_vectors])
        if stack.ndim == 3 and not any(e in key for e in exclude):
            out[key] = layer_fn(stack)
        else:
            out[key] = stack.mean(0)
    return out


def tsv(task_vectors: Sequence[StateDict], exclude: Sequence[str] = ()) -> dict[str, Tensor]:
    """TSV-M merge (the official baseline): `tsv_layer` on 2-D tensors, the mean elsewhere.

    Keys containing any string of `exclude` are averaged too (the paper excludes CLIP's
    text_projection)."""
    return _by_layer(task_vectors, tsv_layer, exclude)


def score(task_vectors: Sequence[StateDict], threshold: float = 1.96, per_task: bool = True,
          exclude: Sequence[str] = (), part: str = "trimmed") -> dict[str, Tensor]:
    """SCORE merge (Chaves et al. 2026): `score_layer` on 2-D tensors, the mean elsewhere.

    Examples
    --------
    >>> tau = score([task_vector(ft, theta0) for ft in experts])      # doctest: +SKIP
    >>> merged = apply_task_vector(theta0, tau, coef=1.0)               # doctest: +SKIP
    """
    return _by_layer(task_vectors, lambda s: score_layer(s, threshold, per_task, part), exclude)


METHODS: dict[str, Merger] = {
    "task_arithmetic": task_arithmetic,
    "ties": ties,
    "tsv": tsv,
    "score": score,
}


def merge_suite(*, keep: float = 0.2, threshold: float = 1.96, per_task: bool = True,
                exclude: Sequence[str] = (), references: bool = True) -> dict[str, Merger]:
    """The paper's four methods with their options (name → merge function), plus, when `references`,
    weight averaging and SCORE's two ablations that bracket trimming: "score_diagonal" (no cross-terms)
    and "score_full" (all cross-terms, no trimming)."""
    suite: dict[str, Merger] = {
        "task_arithmetic": task_arithmetic,
        "ties": partial(ties, keep=keep),
        "tsv": partial(tsv, exclude=exclude),
        "score": partial(score, threshold=threshold, per_task=per_task, exclude=exclude),
    }
    if references:
        suite["average"] = average
        for part in ("diagonal", "full"):
            suite[f"score_{part}"] = partial(score, threshold=threshold, per_task=per_task,
                                             exclude=exclude, part=part)
    return suite


def merge(pretrained: StateDict, finetuned: Sequence[StateDict], method: str = "score",
          coef: float = 1.0, **options: object) -> dict[str, Tensor]:
    """Merge fine-tuned models: θ_0 + coef · method([θ_t − θ_0]_t). `options` go to the method
    (`keep` for ties, `threshold`/`per_task`/`exclude` for score, `exclude` for tsv)."""
    if method not in METHODS:
        raise ValueError(f"method={method!r}: pass one of {', '.join(map(repr, METHODS))}")
    taus = [task_vector(ft, pretrained) for ft in finetuned]
    return apply_task_vector(pretrained, METHODS[method](taus, **options), coef)


# ---------------------------------------------------------------------------------------------
# the subspace-conflict measure


def energy_rank(s: Tensor, energy: float = 0.97) -> Tensor:
    """Smallest k with ‖Δ_k‖_F / ‖Δ‖_F ≥ energy (Eq. 6), Δ_k the rank-k truncation (the official
    analysis script takes the argmax index, one direction fewer).

    s: (..., r) singular values, descending → (...,) integer ranks in [1, r] (r for an all-zero s)."""
    if not 0.0 < energy <= 1.0:
        raise ValueError(f"energy={energy!r}: pass the kept fraction of the norm, in (0, 1]")
    e = s.square().cumsum(-1)
    frac = (e / e[..., -1:].clamp(min=torch.finfo(s.dtype).tiny)).sqrt()
    # a tolerance so that energy=1 gives the full numerical rank rather than never being reached
    return ((frac < energy - 1e-6).sum(-1) + 1).clamp(max=s.shape[-1])


def layer_alignment(mats: Tensor, energy: float = 0.97) -> Tensor:
    """SAR of one layer: A[i, j] = ‖U_j,k U_j,kᵀ Δ_i‖_F / ‖Δ_i‖_F (Eq. 5), U_j,k the left singular
    vectors of Δ_j holding `energy` of its norm. mats: (T, m, n), no zero matrix → A (T, T)."""
    if mats.ndim != 3:
        raise ValueError(f"task matrices have shape {tuple(mats.shape)}: pass (tasks, out, in)")
    norms = mats.flatten(1).norm(dim=1)
    if bool((norms == 0).any()):
        raise ValueError("a task matrix is zero, so its alignment is undefined: leave this layer out")
    u, s, _ = torch.linalg.svd(mats, full_matrices=False)  # (T, m, r)
    k = energy_rank(s, energy)
    u = u * (torch.arange(u.shape[-1], device=u.device) < k[:, None]).unsqueeze(1)  # zero columns ≥ k_j
    coef = torch.einsum("jmr,imn->ijrn", u, mats)  # U_jᵀ Δ_i, orthonormal columns keep the norm
    return coef.flatten(2).norm(dim=2) / norms[:, None]


def subspace_alignment(task_vectors: Sequence[StateDict], energy: float = 0.97,
                       keys: Sequence[str] | None = None) -> Tensor:
    """Pairwise subspace alignment ratio, averaged over layers (the paper's SAR heatmaps).

    Uses the 2-D tensors in `keys` (default: every 2-D tensor that is non-zero in all task vectors,
    e.g. leaving out a frozen head). Returns A (T, T): A[i, j] is the share of task i's update lying in
    task j's leading subspace; the diagonal is ≥ `energy` by construction.
    """
    _check_compatible(task_vectors, "task vector")
    if keys is None:
        keys = [k for k, v in task_vectors[0].items()
                if v.ndim == 2 and all(bool(tv[k].any()) for tv in task_vectors)]
    if not keys:
        raise ValueError("no 2-D tensor that every task vector changes: pass `keys` to compare")
    return torch.stack([layer_alignment(torch.stack([tv[k] for tv in task_vectors]), energy)
                        for k in keys]).mean(0)


def mean_off_diagonal(a: Tensor | np.ndarray) -> float:
    """Mean of the off-diagonal entries of a square matrix (the cross-task part of a SAR matrix)."""
    a = torch.as_tensor(a)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 2:
        raise ValueError(f"pass a square matrix of size >= 2, got shape {tuple(a.shape)}")
    off = ~torch.eye(a.shape[0], dtype=torch.bool)
    return float(a[off].mean())


# ---------------------------------------------------------------------------------------------
# the leave-one-domain-out protocol


def leave_one_out(pretrained: StateDict, experts: Sequence[StateDict],
                  evaluate: Callable[[dict[str, Tensor], int], float],
                  methods: Sequence[str] | Mapping[str, Merger] = tuple(METHODS), coef: float = 1.0
                  ) -> dict[str, np.ndarray]:
    """Leave-one-domain-out (the paper's protocol): for each domain d, merge the other experts
    and score θ_0 + coef · τ_merged on d with `evaluate(state_dict, d)`.

    `methods` are names of `METHODS` or a mapping name → merge function (e.g. a `functools.partial`
    of `score` with other options). Returns {name: (D,) array of held-out scores}.
    """
    if len(experts) < 3:
        raise ValueError(f"got {len(experts)} experts: pass at least 3 so that 2 remain to merge")
    if not isinstance(methods, Mapping):
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}: pass names among {', '.join(METHODS)}")
        methods = {m: METHODS[m] for m in methods}
    taus = [task_vector(ft, pretrained) for ft in experts]
    out = {m: np.zeros(len(experts)) for m in methods}
    for d in range(len(experts)):
        rest = [t for i, t in enumerate(taus) if i != d]
        for name, fn in methods.items():
            out[name][d] = evaluate(apply_task_vector(pretrained, fn(rest), coef), d)
    return out
