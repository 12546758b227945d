r"""dtSNE: t-SNE whose embedding kernel follows the local density of the data.

Fischer, Burkholz & Vreeken, "Preserving local densities in low-dimensional embeddings",
arXiv 2301.13732 (2023). t-SNE calibrates one Gaussian precision β_i per point (perplexity) and then
forgets it: every pair meets the same Cauchy kernel in the embedding, so a tight and a diffuse cluster
come out the same size. dtSNE carries the precision over. With the symmetric pair precision

.. math::  \beta_{ij} = \frac{4\beta_i\beta_j}{(\sqrt{\beta_i}+\sqrt{\beta_j})^2}
           \quad(\sigma_{ij} = (\sigma_i+\sigma_j)/2),\qquad
           \gamma_{ij} = (\beta_{ij}/\beta_{\max})^{\alpha},

the affinities are :math:`p_{j|i} \propto \exp(-\beta_{ij}\|x_i-x_j\|^2)`, :math:`P = (P + P^\top)/2n`,
the embedding kernel is :math:`w_{ij} = (1 + \gamma_{ij}\|y_i-y_j\|^2)^{-1}`,
:math:`q_{ij} = w_{ij}/Z`, :math:`Z = \sum_{k\ne l} w_{kl}`, and the gradient of KL(P‖Q) is

.. math::  \frac{\partial C}{\partial y_i} = 4\sum_j (p_{ij} - q_{ij})\,\gamma_{ij}\,w_{ij}\,(y_i-y_j).

α = 1 is the paper's method (the *density weight*; α = 0 gives t-SNE's kernel, γ ≡ 1). The
paper's own equations could not be retrieved; these follow the note and the third-party
reimplementation (ooodnakov/dtsne_jedi), and the gradient is checked against autograd in the tests.

Everything that is plain t-SNE is openTSNE's: the kNN index (`nearest_neighbors.Sklearn` / `Annoy`,
chosen as openTSNE's 'auto' does), the perplexity binary search (`_tsne.compute_gaussian_perplexity`,
whose rows give β_i back exactly), the PCA initialisation, and the optimiser
(`TSNEEmbedding.optimize`: early exaggeration, momentum, gains, learning rate N/exaggeration, step
clipping), which calls `DensityKL` as its objective. dtSNE only adds the pair precisions and the
density-scaled kernel, computed in torch (CPU or GPU):

* attraction over the sparse kNN graph of P, exactly (each pair once, acting on both points);
* repulsion ('exact') over all pairs, O(n²), in bounded-memory chunks (`relml.kernels.dtsne_triton`:
  torch, or a fused Triton kernel on CUDA); ('tree') a 2-D treecode, O(n log n), ~1% error
  (`relml.embed.treecode`); or ('sampled') the kNN graph exactly plus m sources drawn per iteration
  with Horvitz–Thompson weights n/m: unbiased but noisy, for embeddings of other dimensions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from openTSNE import TSNEEmbedding, initialization, nearest_neighbors
from openTSNE import _tsne as otsne_c
from openTSNE.affinity import Affinities
from torch import Tensor

from relml.embed.treecode import density_repulsion_tree
from relml.kernels.dtsne_triton import density_repulsion, pair_gamma
from relml.runtime import resolve_device

__all__ = ["DTSNE", "REPULSIONS", "DensityAffinities", "DensityKL", "Edges", "check_data", "check_perplexity",
           "density_affinities", "kl_gradient", "knn_index", "morton_order", "negative_sources",
           "pair_precision", "precisions_from_conditional"]


# ---------------------------------------------------------------------------------------------
# validation


def check_data(x: Any, name: str = "X") -> np.ndarray:
    """X as a finite float64 array of shape (n, d), or a ValueError saying what to pass."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric array of shape (n_samples, n_features)") from err
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must have shape (n_samples, n_features), got {arr.shape}")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).any(axis=1).sum())
        raise ValueError(f"{name} holds NaN or infinite values in {bad} row(s); drop or impute them first")
    return arr


def check_perplexity(perplexity: float, n: int, k_neighbors: int | str = "auto") -> int:
    """Validate the perplexity against n; return the kNN size (3·perplexity, as in openTSNE)."""
    if isinstance(perplexity, bool) or not isinstance(perplexity, (int, float)) or not perplexity >= 1:
        raise ValueError(f"perplexity must be a number >= 1 (an effective neighbour count), got "
                         f"{perplexity!r}")
    k = int(3 * perplexity) if k_neighbors == "auto" else k_neighbors
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < perplexity:
        raise ValueError(f"k_neighbors must be 'auto' or an integer >= perplexity={perplexity}, got "
                         f"{k_neighbors!r}")
    if k > n - 1:
        raise ValueError(f"perplexity={perplexity} uses a neighbourhood of k={k} points, but there are "
                         f"only n={n} samples; pass perplexity <= {(n - 1) / 3:.4g} (or more samples)")
    return int(k)


# ---------------------------------------------------------------------------------------------
# affinities (paper: pair precisions β_ij in P)


def pair_precision(beta_i: np.ndarray, beta_j: np.ndarray) -> np.ndarray:
    """β_ij = 4 β_i β_j / (√β_i + √β_j)², i.e. σ_ij = (σ_i + σ_j)/2 with β = 1/(2σ²)."""
    return 4.0 * beta_i * beta_j / (np.sqrt(beta_i) + np.sqrt(beta_j)) ** 2


def precisions_from_conditional(cond_p: np.ndarray, sq_dist: np.ndarray) -> np.ndarray:
    """Recover β_i from rows p_{j|i} ∝ exp(−β_i d²_ij) by a p-weighted least-squares slope.

    cond_p, sq_dist: (n, k). Exact for openTSNE's calibrated rows; a row whose neighbours are all
    equidistant (any β fits) gets the median β of the others.
    """
    pos = cond_p > 0
    logp = np.log(np.where(pos, cond_p, 1.0))
    wts = np.where(pos, cond_p, 0.0)
    wts = wts / wts.sum(1, keepdims=True)
    d_mean = (wts * sq_dist).sum(1, keepdims=True)
    l_mean = (wts * logp).sum(1, keepdims=True)
    var = (wts * (sq_dist - d_mean) ** 2).sum(1)
    cov = (wts * (sq_dist - d_mean) * (logp - l_mean)).sum(1)
    scale = np.maximum((wts * sq_dist**2).sum(1), 1e-300)
    ok = var > 1e-12 * scale
    beta = np.empty(cond_p.shape[0])
    beta[ok] = -cov[ok] / var[ok]
    beta[~ok] = np.median(beta[ok]) if ok.any() else 1.0
    return beta


class DensityAffinities(Affinities):
    """dtSNE's input affinities, usable wherever openTSNE expects an `Affinities` object.

    Attributes: P (n, n) symmetric CSR summing to 1; beta (n,) the perplexity-calibrated precisions
    β_i; neighbors, distances (n, k) the kNN graph; perplexity.
    """

    def __init__(self, P: sp.csr_matrix, beta: np.ndarray, neighbors: np.ndarray, distances: np.ndarray,
                 perplexity: float, knn_index: Any = None) -> None:
        super().__init__(verbose=False)
        self.P, self.beta, self.neighbors, self.distances = P, beta, neighbors, distances
        self.perplexity, self.knn_index = perplexity, knn_index

    def to_new(self, data: Any, return_distances: bool = False) -> Any:  # pragma: no cover
        raise NotImplementedError("adding points to a dtSNE embedding is not supported")


_KNN = {"exact": nearest_neighbors.Sklearn, "annoy": nearest_neighbors.Annoy}


def knn_index(x: np.ndarray, k: int, method: str = "auto", n_jobs: int = 1,
              random_state: int | None = None) -> nearest_neighbors.KNNIndex:
    """openTSNE's Euclidean kNN index: 'exact' (scikit-learn), 'annoy', or 'auto' (exact below 1000
    points, Annoy above: openTSNE's choice for dense data, without its probe import of pynndescent).
    """
    if method == "auto":
        method = "exact" if x.shape[0] < 1000 else "annoy"
    if method not in _KNN:
        raise ValueError(f"knn_method must be 'auto', 'exact' or 'annoy', got {method!r}")
    return _KNN[method](x, k=k, metric="euclidean", n_jobs=n_jobs, random_state=random_state)


def density_affinities(x: np.ndarray, perplexity: float = 30.0, k_neighbors: int | str = "auto",
                       knn_method: str = "auto", n_jobs: int = 1, random_state: int | None = None
                       ) -> DensityAffinities:
    """P with the pair precisions β_ij (module docstring), on openTSNE's kNN graph and β_i.

    x: (n, d). β_i comes from openTSNE's perplexity calibration; p_{j|i} ∝ exp(−β_ij d²_ij) over the
    k = 3·perplexity nearest neighbours, then P = (P + Pᵀ) / sum.
    """
    x = check_data(x)
    k = check_perplexity(perplexity, x.shape[0], k_neighbors)
    index = knn_index(x, k, knn_method, n_jobs, random_state)
    neighbors, distances = index.build()
    distances = np.asarray(distances, dtype=np.float64)
    sq = distances**2
    cond = np.asarray(otsne_c.compute_gaussian_perplexity(distances, np.array([float(perplexity)]),
                                                          num_threads=n_jobs))
    beta = precisions_from_conditional(cond, sq)
    logits = -pair_precision(beta[:, None], beta[neighbors]) * sq
    logits -= logits.max(1, keepdims=True)
    cond = np.exp(logits)
    cond /= cond.sum(1, keepdims=True)
    n = x.shape[0]
    p = sp.csr_matrix((cond.ravel(), neighbors.ravel(), np.arange(0, n * k + 1, k)), shape=(n, n))
    p = (p + p.T).tocsr()
    p.setdiag(0.0)  # duplicates can list a point among its own neighbours
    p.eliminate_zeros()
    p.sort_indices()
    p /= p.sum()
    return DensityAffinities(p, beta, neighbors, distances, float(perplexity), index)


# ---------------------------------------------------------------------------------------------
# the gradient (torch)


@dataclass(frozen=True)
class Edges:
    """The pairs i < j of a symmetric P (its upper triangle), row-sorted, as torch tensors.

    rows, cols (E,) int64; counts (n,) pairs per row; p (E,) = p_ij = p_ji; gamma (E,) = γ_ij;
    pg (E,) = p_ij γ_ij. Each pair is visited once and acts on both of its points.
    """

    rows: Tensor
    cols: Tensor
    counts: Tensor
    p: Tensor
    gamma: Tensor
    pg: Tensor

    @classmethod
    def from_csr(cls, P: sp.csr_matrix, u: Tensor, alpha: float = 1.0) -> Edges:
        """From a symmetric CSR P (n, n) and the per-point scales u (n,) on the device and dtype wanted."""
        upper = sp.triu(P, k=1).tocsr()
        upper.sort_indices()
        dev, dt = u.device, u.dtype
        counts = torch.as_tensor(np.diff(upper.indptr), dtype=torch.int64, device=dev)
        rows = torch.repeat_interleave(torch.arange(P.shape[0], device=dev), counts)
        cols = torch.as_tensor(upper.indices, dtype=torch.int64, device=dev)
        p = torch.as_tensor(upper.data, dtype=dt, device=dev)
        gamma = pair_gamma(u[rows], u[cols], alpha)
        return cls(rows, cols, counts, p, gamma, p * gamma)


def morton_order(y: Tensor, bits: int = 10) -> Tensor:
    """A permutation (n,) that lists the points of y (n, d) along a Z-order (Morton) curve."""
    n, dim = y.shape
    bits = max(1, min(bits, 62 // dim))  # the code must fit in an int64
    lo, hi = y.min(0).values, y.max(0).values
    q = ((y - lo) / (hi - lo).clamp_min(1e-12) * (2**bits - 1)).long()
    code = torch.zeros(n, dtype=torch.int64, device=y.device)
    for b in range(bits):  # interleave the bits of the d quantised coordinates
        for d in range(dim):
            code |= ((q[:, d] >> b) & 1) << (b * dim + d)
    return torch.argsort(code)


def negative_sources(y: Tensor, m: int, generator: torch.Generator | None = None,
                     stratified: bool = True) -> Tensor:
    """m distinct source indices, each point drawn with probability exactly m/n.

    Uniform: a random m-subset. Stratified: systematic sampling with a random start along the Morton
    order of y, one source per run of n/m consecutive (hence nearby) points, as in a randomised
    Barnes–Hut with equal-mass cells. Either way the Horvitz–Thompson weight n/m is unbiased.
    """
    n = y.shape[0]
    if not stratified:
        return torch.randperm(n, generator=generator)[:m].to(y.device)
    step = n / m
    start = torch.rand(1, generator=generator, dtype=torch.float64).item() * step
    pos = (start + torch.arange(m, dtype=torch.float64) * step).long().clamp_max(n - 1).to(y.device)
    return morton_order(y)[pos]


REPULSIONS = ("exact", "tree", "sampled")


def kl_gradient(y: Tensor, edges: Edges, u: Tensor, alpha: float = 1.0, *, exaggeration: float = 1.0,
                repulsion: str = "exact", n_negative: int = 512, generator: torch.Generator | None = None,
                stratified: bool = True, backend: str = "auto", compute_kl: bool = False
                ) -> tuple[Tensor, Tensor | None]:
    """∂KL(P‖Q)/∂Y of dtSNE (module docstring) and, if asked, the KL itself.

    y: (n, d) embedding; edges: P's nonzeros with their γ; u: (n,) scales √(β_max/β_i), so
    γ_ij = (2/(u_i+u_j))^{2α} (alpha must match the one `edges` was built with); exaggeration
    multiplies P. The attraction runs over the sparse P exactly; the repulsion is

    * 'exact': all pairs, O(n²) in bounded chunks (torch) or the fused Triton kernel on CUDA;
    * 'tree': the 2-D treecode of `relml.embed.treecode` (deterministic, O(n log n), ~1% error);
    * 'sampled': the kNN graph exactly (near field) plus `n_negative` = m distinct sources drawn
      with probability m/n each (far field, Horvitz–Thompson weight n/m): unbiased, but noisy;
      `stratified` draws them systematically along a space-filling order of y.

    Returns grad (n, d) and kl (a scalar tensor, or None).
    """
    if repulsion not in REPULSIONS:
        raise ValueError(f"repulsion must be one of {REPULSIONS}, got {repulsion!r}")
    n, dim = y.shape
    i, j = edges.rows, edges.cols
    n_pairs = i.shape[0]
    # per coordinate, 1-D: gathers and scatters of flat vectors are several times faster than of rows
    coords = [y[:, k].contiguous() for k in range(dim)]
    diff = [c.repeat_interleave(edges.counts, output_size=n_pairs).sub_(c.index_select(0, j)) for c in coords]
    d2 = diff[0] * diff[0]
    for dk in diff[1:]:
        d2.addcmul_(dk, dk)
    w_e = d2.mul_(edges.gamma).add_(1.0).reciprocal_()

    def pair_sums(coef_i: Tensor, coef_j: Tensor, sign: float) -> Tensor:
        """Σ over the pairs of coef·(y_i − y_j) into i and sign·coef·(y_i − y_j) into j, (n, d)."""
        return torch.stack([torch.zeros(n, dtype=y.dtype, device=y.device).index_add_(0, i, coef_i * dk)
                            .index_add_(0, j, coef_j * dk, alpha=sign) for dk in diff], 1)

    pull = exaggeration * edges.pg * w_e  # each pair pulls its two points together
    attract = pair_sums(pull, pull, -1.0)
    if repulsion == "sampled" and n_negative < n:
        if isinstance(n_negative, bool) or not isinstance(n_negative, int) or n_negative < 1:
            raise ValueError(f"n_negative must be a positive integer, got {n_negative!r}")
        src = negative_sources(y, n_negative, generator, stratified)
        z_src, f_src = density_repulsion(y, u, alpha, src=src, backend=backend)
        weight = n / n_negative
        in_src = torch.zeros(n, dtype=y.dtype, device=y.device).index_fill_(0, src, 1.0)
        # the kNN graph is the exact near field; pairs the sample also drew leave the far-field estimate
        keep_i = 1.0 - weight * in_src.index_select(0, j)  # pair (i, j) seen from i
        keep_j = 1.0 - weight * in_src.index_select(0, i)  # and from j
        push = edges.gamma * w_e * w_e
        z_near = torch.zeros_like(z_src).index_add_(0, i, w_e * keep_i).index_add_(0, j, w_e * keep_j)
        f_near = pair_sums(push * keep_i, push * keep_j, -1.0)
        z_rows, force = z_near + weight * z_src, f_near + weight * f_src
    elif repulsion == "tree":
        z_rows, force = density_repulsion_tree(y, u, alpha)
    else:
        z_rows, force = density_repulsion(y, u, alpha, backend=backend)
    z = z_rows.sum()
    grad = 4.0 * (attract - force / z)
    kl = None
    if compute_kl:  # over both orders of each pair: P sums to `exaggeration`
        p = edges.p * exaggeration
        logp = torch.log(p.clamp_min(torch.finfo(p.dtype).tiny))
        kl = 2.0 * ((p * logp).sum() - (p * torch.log(w_e)).sum() + p.sum() * torch.log(z))
    return grad, kl


class DensityKL:
    """dtSNE's objective in the form openTSNE's `gradient_descent` calls: (KL, ∂KL/∂Y / 4).

    openTSNE's objectives return a quarter of the gradient (its learning rates assume that) and
    receive P already multiplied by the exaggeration, which is read off P's largest entry.
    `repulsion`, `n_negative` as in `kl_gradient`; one torch generator seeded once makes runs
    repeatable.
    """

    def __init__(self, P: sp.csr_matrix, u: np.ndarray, alpha: float = 1.0, repulsion: str = "exact",
                 n_negative: int = 512, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32, seed: int = 0, backend: str = "auto") -> None:
        if repulsion not in REPULSIONS:
            raise ValueError(f"repulsion must be one of {REPULSIONS}, got {repulsion!r}")
        self.P = P
        self._argmax = int(np.argmax(P.data))
        self._pmax = float(P.data[self._argmax])
        self.device, self.dtype = torch.device(device), dtype
        self.u = torch.as_tensor(u, dtype=dtype, device=self.device)
        self.edges = Edges.from_csr(P, self.u, alpha)
        self.alpha, self.repulsion, self.n_negative = float(alpha), repulsion, n_negative
        self.backend = backend
        self.generator = torch.Generator().manual_seed(seed)
        self.calls = 0

    def __call__(self, embedding: np.ndarray, P: sp.csr_matrix, dof: float = 1,
                 reference_embedding: Any = None, should_eval_error: bool = False, **_: Any
                 ) -> tuple[float | None, np.ndarray]:
        if reference_embedding is not None:
            raise NotImplementedError("dtSNE does not support adding points to an existing embedding")
        if dof != 1:
            raise ValueError(f"dtSNE uses the Cauchy kernel (dof=1), got dof={dof}")
        exaggeration = float(P.data[self._argmax]) / self._pmax
        y = torch.as_tensor(np.asarray(embedding), device=self.device).to(self.dtype)
        grad, kl = kl_gradient(y, self.edges, self.u, self.alpha, exaggeration=exaggeration,
                               repulsion=self.repulsion, n_negative=self.n_negative, generator=self.generator,
                               backend=self.backend, compute_kl=should_eval_error)
        self.calls += 1
        out = (grad / 4.0).to("cpu", torch.float64).numpy()
        return (float(kl) if kl is not None else None), out


# ---------------------------------------------------------------------------------------------
# the estimator


class DTSNE:
    """Density-preserving t-SNE (dtSNE), an estimator in scikit-learn's shape.

    `__init__` only stores; `fit(X)` validates, computes affinities, runs openTSNE's two-phase
    schedule with the dtSNE objective, and returns self with `embedding_`; `fit_transform(X)` returns
    the embedding.

    Parameters
    ----------
    n_components: embedding dimension (the Triton kernel serves 2; the torch path any).
    perplexity: effective neighbour count, >= 1 and at most (n − 1)/3.
    density_weight: α in γ_ij = (β_ij/β_max)^α; 1 is dtSNE, 0 t-SNE's kernel (on dtSNE's P).
    early_exaggeration, early_exaggeration_iter, n_iter, learning_rate, initial_momentum,
    final_momentum, max_step_norm: openTSNE's schedule and defaults (learning rate 'auto' = N/exag.).
    repulsion: 'exact' (O(n²), chunked torch or Triton on CUDA), 'tree' (2-D treecode, O(n log n)),
        'sampled' (kNN near field + `n_negative` sources per iteration), or 'auto': exact up to
        `exact_max_n` points (default 4096 on the CPU, 65536 on CUDA), above that 'tree' for 2-D
        embeddings and 'sampled' otherwise.
    n_negative: sources per iteration for 'sampled' (default 512).
    device: 'cpu', 'cuda', 'auto'; dtype: torch dtype of the gradient (float32).
    knn_method: openTSNE's ('auto': exact below 1000 points, Annoy above); n_jobs: its threads.
    random_state: seeds the kNN index, the PCA jitter and the negative samples.

    Attributes
    ----------
    embedding_ (n, n_components) float64; affinities_ (`DensityAffinities`); beta_ (n,) precisions;
    scale_ (n,) u_i = √(β_max/β_i); kl_divergence_; repulsion_ (the mode used: 'exact', 'tree' or 'sampled').

    References
    ----------
    Fischer, Burkholz, Vreeken. Preserving local densities in low-dimensional embeddings. arXiv
    2301.13732, 2023. Poličar, Stražar, Zupan. openTSNE. JSS 2024.

    Examples
    --------
    >>> from relml.embed.datasets import gaussian_clusters
    >>> data = gaussian_clusters((100, 100), (1.0, 4.0), seed=0)
    >>> y = DTSNE(perplexity=10, n_iter=200, random_state=0).fit_transform(data.x)
    >>> y.shape
    (200, 2)
    """

    def __init__(self, n_components: int = 2, perplexity: float = 30.0, density_weight: float = 1.0, *,
                 early_exaggeration: float = 12.0, early_exaggeration_iter: int = 250, n_iter: int = 500,
                 learning_rate: float | str = "auto", initial_momentum: float = 0.8,
                 final_momentum: float = 0.8, max_step_norm: float | None = 5.0,
                 repulsion: str = "auto", n_negative: int = 512, exact_max_n: int | None = None,
                 device: str = "cpu", dtype: torch.dtype = torch.float32, backend: str = "auto",
                 knn_method: str = "auto", k_neighbors: int | str = "auto", n_jobs: int = 1,
                 random_state: int | None = None, verbose: bool = False) -> None:
        self.n_components, self.perplexity, self.density_weight = n_components, perplexity, density_weight
        self.early_exaggeration, self.early_exaggeration_iter = early_exaggeration, early_exaggeration_iter
        self.n_iter, self.learning_rate = n_iter, learning_rate
        self.initial_momentum, self.final_momentum = initial_momentum, final_momentum
        self.max_step_norm = max_step_norm
        self.repulsion, self.n_negative, self.exact_max_n = repulsion, n_negative, exact_max_n
        self.device, self.dtype, self.backend = device, dtype, backend
        self.knn_method, self.k_neighbors, self.n_jobs = knn_method, k_neighbors, n_jobs
        self.random_state, self.verbose = random_state, verbose

    # -- validation ---------------------------------------------------------------------------
    def _validate(self, x: Any) -> np.ndarray:
        x = check_data(x)
        n = x.shape[0]
        if isinstance(self.n_components, bool) or not isinstance(self.n_components, int) or \
                self.n_components < 1:
            raise ValueError(f"n_components must be a positive integer, got {self.n_components!r}")
        check_perplexity(self.perplexity, n, self.k_neighbors)
        if not isinstance(self.density_weight, (int, float)) or not 0 <= self.density_weight <= 1:
            raise ValueError(f"density_weight must be in [0, 1] (1 = dtSNE, 0 = t-SNE kernel), got "
                             f"{self.density_weight!r}")
        for name in ("early_exaggeration_iter", "n_iter"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
        if not (isinstance(self.early_exaggeration, (int, float)) and self.early_exaggeration >= 1):
            raise ValueError(f"early_exaggeration must be >= 1, got {self.early_exaggeration!r}")
        if self.learning_rate != "auto" and not (isinstance(self.learning_rate, (int, float))
                                                 and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be 'auto' or a positive number, got {self.learning_rate!r}")
        for name in ("initial_momentum", "final_momentum"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0 <= v < 1):
                raise ValueError(f"{name} must be in [0, 1), got {v!r}")
        if self.repulsion not in ("auto", *REPULSIONS):
            raise ValueError(f"repulsion must be 'auto', 'exact', 'tree' or 'sampled', got "
                             f"{self.repulsion!r}")
        if self.repulsion == "tree" and self.n_components != 2:
            raise ValueError("repulsion='tree' needs n_components=2; use 'exact' or 'sampled'")
        if self.knn_method not in ("auto", *_KNN):
            raise ValueError(f"knn_method must be 'auto', 'exact' or 'annoy', got {self.knn_method!r}")
        if isinstance(self.n_negative, bool) or not isinstance(self.n_negative, int) or self.n_negative < 1:
            raise ValueError(f"n_negative must be a positive integer, got {self.n_negative!r}")
        return x

    def _repulsion_mode(self, n: int, device: torch.device) -> str:
        if self.repulsion != "auto":
            return self.repulsion
        limit = self.exact_max_n or (65536 if device.type == "cuda" else 4096)
        if n <= limit:
            return "exact"
        return "tree" if self.n_components == 2 else "sampled"

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, X: Any, initialization_: np.ndarray | None = None) -> DTSNE:
        """Embed X (n, d); `initialization_` (n, n_components) overrides openTSNE's PCA start."""
        x = self._validate(X)
        device = resolve_device(self.device)
        seed = 0 if self.random_state is None else int(self.random_state)
        aff = density_affinities(x, self.perplexity, self.k_neighbors, self.knn_method, self.n_jobs,
                                 self.random_state)
        beta_max = float(aff.beta.max())
        scale = np.sqrt(beta_max / aff.beta)
        if initialization_ is None:
            init = initialization.pca(x, n_components=self.n_components, random_state=seed)
        else:
            init = check_data(initialization_, "initialization_")
            if init.shape != (x.shape[0], self.n_components):
                raise ValueError(f"initialization_ must have shape {(x.shape[0], self.n_components)}, "
                                 f"got {init.shape}")
        mode = self._repulsion_mode(x.shape[0], device)
        objective = DensityKL(aff.P, scale, self.density_weight, repulsion=mode, n_negative=self.n_negative,
                              device=device, dtype=self.dtype, seed=seed, backend=self.backend)
        emb = TSNEEmbedding(init, aff, negative_gradient_method=objective, random_state=seed,
                            max_step_norm=self.max_step_norm, n_jobs=self.n_jobs, verbose=self.verbose)
        if self.early_exaggeration_iter > 0:
            emb = emb.optimize(self.early_exaggeration_iter, exaggeration=self.early_exaggeration,
                               momentum=self.initial_momentum, learning_rate=self.learning_rate)
        if self.n_iter > 0:
            emb = emb.optimize(self.n_iter, exaggeration=1, momentum=self.final_momentum,
                               learning_rate=self.learning_rate)
        self.embedding_ = np.asarray(emb).copy()
        self.affinities_, self.beta_, self.scale_ = aff, aff.beta, scale
        self.kl_divergence_ = float(emb.kl_divergence) if emb.kl_divergence is not None else math.nan
        self.repulsion_ = mode
        return self

    def fit_transform(self, X: Any) -> np.ndarray:
        """fit(X) and return the embedding (n, n_components)."""
        return self.fit(X).embedding_
