"""dtSNE: affinities, the gradient against autograd and openTSNE, the approximations, the estimator."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from openTSNE.tsne import kl_divergence_bh

from relml.embed.datasets import gaussian_clusters
from relml.embed.dtsne import (
    DTSNE,
    DensityKL,
    Edges,
    density_affinities,
    kl_gradient,
    negative_sources,
    pair_precision,
    precisions_from_conditional,
)
from relml.kernels.dtsne_triton import pair_gamma


@pytest.fixture(scope="module")
def small():
    """60 points of two clusters of different spread, their dtSNE affinities and a random layout."""
    data = gaussian_clusters((30, 30), (1.0, 4.0), dim=5, seed=0)
    aff = density_affinities(data.x, perplexity=5)
    u = torch.tensor(np.sqrt(aff.beta.max() / aff.beta))
    y = torch.randn(60, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 3
    return data, aff, u, y


def _dense_loss(y, P, u, alpha, exaggeration=1.0):
    """KL(P‖Q) with the density-scaled kernel written densely, and the loss whose gradient is the
    early-exaggerated one (exaggeration multiplies the attraction only, as in openTSNE)."""
    p = torch.tensor(P.toarray())
    d2 = ((y[:, None] - y[None]) ** 2).sum(-1)
    w = 1.0 / (1.0 + pair_gamma(u[:, None], u[None], alpha) * d2)
    w = w * (1 - torch.eye(len(y), dtype=y.dtype))
    z = w.sum()
    mask = p > 0
    pe = p[mask] * exaggeration
    kl = (pe * torch.log(pe * z / w[mask])).sum()
    return kl, -(pe * torch.log(w[mask])).sum() + torch.log(z)


@pytest.mark.parametrize("alpha, exaggeration", [(1.0, 1.0), (0.5, 12.0)])
def test_gradient_and_kl_equal_autograd_of_the_loss(small, alpha, exaggeration):
    _, aff, u, y = small
    yy = y.clone().requires_grad_(True)
    kl_ref, loss = _dense_loss(yy, aff.P, u, alpha, exaggeration)
    loss.backward()
    edges = Edges.from_csr(aff.P, u, alpha)
    grad, kl = kl_gradient(y, edges, u, alpha, exaggeration=exaggeration, compute_kl=True)
    torch.testing.assert_close(grad, yy.grad, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(kl, kl_ref.detach(), rtol=1e-9, atol=1e-12)


def test_gamma_one_reproduces_tsne_gradient_of_opentsne(small):
    _, aff, _, y = small
    ones = torch.ones(60, dtype=torch.float64)
    ours, _ = kl_gradient(y, Edges.from_csr(aff.P, ones), ones)
    _, quarter = kl_divergence_bh(y.numpy().copy(), aff.P, 1, {"theta": 0.0})
    np.testing.assert_allclose(ours.numpy(), 4 * quarter, rtol=1e-7, atol=1e-12)
    # density weight 0 gives γ ≡ 1 whatever the scales
    u = torch.rand(60, dtype=torch.float64) + 1
    zero, _ = kl_gradient(y, Edges.from_csr(aff.P, u, 0.0), u, 0.0)
    torch.testing.assert_close(zero, ours)


def test_tree_repulsion_gradient_is_close_to_exact(small):
    _, aff, u, y = small
    edges = Edges.from_csr(aff.P, u)
    exact, _ = kl_gradient(y, edges, u)
    tree, _ = kl_gradient(y, edges, u, repulsion="tree")
    assert (tree - exact).norm() / exact.norm() < 0.05


def test_sampled_repulsion_is_exact_with_all_sources_and_averages_to_exact(small):
    _, aff, u, y = small
    edges = Edges.from_csr(aff.P, u)
    exact, _ = kl_gradient(y, edges, u)
    full, _ = kl_gradient(y, edges, u, repulsion="sampled", n_negative=60)
    torch.testing.assert_close(full, exact)
    gen = torch.Generator().manual_seed(0)
    draws = torch.stack([kl_gradient(y, edges, u, repulsion="sampled", n_negative=20, generator=gen)[0]
                         for _ in range(300)])
    one = (draws[0] - exact).norm()
    mean = (draws.mean(0) - exact).norm()
    assert mean < one / 5  # the noise averages out: ~ 1/sqrt(300) of one draw's, up to the ratio bias


@pytest.mark.parametrize("stratified", [False, True])
def test_negative_sources_draw_every_point_with_probability_m_over_n(stratified):
    y = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(1)
    counts = torch.zeros(50)
    draws = 500
    for _ in range(draws):
        src = negative_sources(y, 10, gen, stratified)
        assert src.unique().numel() == 10
        counts[src] += 1
    p = 10 / 50
    assert (counts / draws - p).abs().max() < 5 * np.sqrt(p * (1 - p) / draws)


def test_pair_precision_is_the_mean_of_sigmas():
    sigma_i, sigma_j = np.array([0.5, 2.0, 1.0]), np.array([1.5, 2.0, 4.0])
    beta = pair_precision(1 / (2 * sigma_i**2), 1 / (2 * sigma_j**2))
    np.testing.assert_allclose(beta, 1 / (2 * ((sigma_i + sigma_j) / 2) ** 2))


def test_precisions_are_recovered_from_calibrated_rows():
    rng = np.random.default_rng(0)
    sq = np.sort(rng.random((20, 15)) * 4, axis=1)
    beta = rng.random(20) * 3 + 0.1
    rows = np.exp(-beta[:, None] * sq)
    np.testing.assert_allclose(precisions_from_conditional(rows / rows.sum(1, keepdims=True), sq), beta,
                               rtol=1e-8)


def test_affinities_are_a_symmetric_distribution_with_openTSNE_precisions(small):
    data, aff, _, _ = small
    P = aff.P
    assert abs(P.sum() - 1) < 1e-12 and P.min() >= 0
    assert abs(P - P.T).max() < 1e-15
    # the diffuse cluster (label 1) gets lower precisions than the tight one
    assert np.median(aff.beta[data.labels == 1]) < np.median(aff.beta[data.labels == 0]) / 4


def test_objective_reads_the_exaggeration_and_returns_a_quarter_gradient(small):
    _, aff, u, y = small
    obj = DensityKL(aff.P.copy(), u.numpy(), dtype=torch.float64)
    P12 = obj.P.copy()
    P12.data *= 12.0
    _, quarter = obj(y.numpy(), P12)
    grad, _ = kl_gradient(y, Edges.from_csr(aff.P, u), u, exaggeration=12.0)
    np.testing.assert_allclose(4 * quarter, grad.numpy(), rtol=1e-10)


def test_dtsne_keeps_the_diffuse_cluster_larger_and_is_deterministic():
    data = gaussian_clusters((40, 40), (1.0, 4.0), dim=2, seed=0)
    kw = dict(perplexity=8, early_exaggeration_iter=60, n_iter=120, random_state=0)
    y = DTSNE(**kw).fit(data.x).embedding_
    y_flat = DTSNE(density_weight=0.0, **kw).fit(data.x).embedding_

    def spread_ratio(z):
        s = [np.sqrt(((z[data.labels == c] - z[data.labels == c].mean(0)) ** 2).sum(1).mean())
             for c in (0, 1)]
        return s[1] / s[0]

    assert spread_ratio(y) > 2.0 > 1.5 > spread_ratio(y_flat)
    np.testing.assert_array_equal(y, DTSNE(**kw).fit_transform(data.x))


def test_bad_input_raises_value_errors_that_say_what_to_pass():
    x = np.random.default_rng(0).normal(size=(40, 3))
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        DTSNE(perplexity=5).fit(bad)
    with pytest.raises(ValueError, match="perplexity"):
        DTSNE(perplexity=30).fit(x)  # needs 91 points
    for perplexity in (0, -3, 0.5, True, "30"):
        with pytest.raises(ValueError, match="perplexity"):
            DTSNE(perplexity=perplexity).fit(x)
    with pytest.raises(ValueError, match="shape"):
        DTSNE(perplexity=5).fit(x[0])
    with pytest.raises(ValueError, match="density_weight"):
        DTSNE(perplexity=5, density_weight=1.5).fit(x)
    with pytest.raises(ValueError, match="repulsion"):
        DTSNE(perplexity=5, repulsion="fft").fit(x)
    with pytest.raises(ValueError, match="n_components=2"):
        DTSNE(perplexity=5, n_components=3, repulsion="tree").fit(x)
    with pytest.raises(ValueError, match="repulsion"):
        kl_gradient(torch.zeros(3, 2), Edges.from_csr(sp.eye(3, format="csr"), torch.ones(3)), torch.ones(3),
                    repulsion="bh")
