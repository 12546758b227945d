"""CTMCs of item accumulation: Eq. 6 vs the exact DP, the sampler, the MH gradient, the fit, bad input."""

import itertools

import numpy as np
import pytest
import torch

from relml.dynamics import ctmc

F64 = torch.float64


def assert_close(a, b, atol):
    """Max-abs closeness (torch.testing.assert_close imports torch.distributed: seconds)."""
    assert a.shape == b.shape and float((a - b).abs().max()) <= atol


def random_theta(n, seed, scale=1.5):
    g = torch.Generator().manual_seed(seed)
    return (2 * torch.rand(n, n, generator=g, dtype=F64) - 1) * scale


def all_subsets(n):
    return [s for r in range(n + 1) for s in itertools.combinations(range(n), r)]


def brute_set_loglik(theta, s):
    """log p(S) as the log-sum over all |S|! orderings of Eq. 6."""
    if not s:
        return ctmc.sequence_loglik(theta, torch.zeros(1, 0, dtype=torch.long))[0]
    return torch.logsumexp(ctmc.sequence_loglik(theta, torch.tensor(list(itertools.permutations(s)))), 0)


def test_orderings_sum_to_the_dp_set_likelihood():
    theta = random_theta(6, 0)
    sets = [(), (3,), (0, 5), (1, 2, 4), (0, 2, 3, 5), (0, 1, 2, 3, 4, 5)]
    dp = ctmc.set_loglik(theta, sets)
    brute = torch.stack([brute_set_loglik(theta, s) for s in sets])
    assert_close(dp, brute, atol=1e-12)


def test_set_probabilities_over_all_subsets_sum_to_one():
    for seed in range(3):
        total = ctmc.set_loglik(random_theta(7, seed), all_subsets(7)).exp().sum()
        assert abs(float(total) - 1.0) < 1e-12


def test_sampler_frequencies_match_exact_probabilities():
    theta = random_theta(5, 3)
    n = 20_000
    hist = ctmc.sample(theta, n, torch.Generator().manual_seed(0))
    subsets = [tuple(i for i in range(5) if m >> i & 1) for m in range(32)]
    p = ctmc.set_loglik(theta, subsets).exp().numpy()
    freq = np.bincount((hist.matrix(5).numpy() << np.arange(5)).sum(1), minlength=32) / n
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / n) + 1e-4)
    # each history lists distinct items, and its set is what `sets()` reports
    sizes = hist.sizes.tolist()
    assert all(len(set(row[:k].tolist())) == k for row, k in zip(hist.orders, sizes, strict=True))
    assert hist.times.min() > 0


def test_closed_form_sequence_gradient_equals_autograd():
    theta = torch.stack([random_theta(6, s) for s in range(3)])
    orders = torch.tensor([[0, 3, 1, 0, 0, 0], [2, 4, 5, 1, 0, 3], [1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    sizes, fit = torch.tensor([3, 6, 1, 0]), torch.tensor([0, 1, 2, 0])
    w = torch.tensor([0.3, 1.2, 0.7, 0.5], dtype=F64)
    leaf = theta.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad((ctmc.sequence_loglik(leaf, orders, sizes, fit) * w).sum(), leaf)
    assert_close(ctmc._sequence_grad(theta, fit, orders, sizes, w), auto, atol=1e-12)


@pytest.mark.parametrize("proposal", ctmc.PROPOSALS)
def test_mh_gradient_matches_exact_gradient_within_mc_error(proposal):
    theta = random_theta(6, 4, scale=1.0)
    data = ctmc.prepare_sets([[(0, 1, 2, 3, 4), (0, 1, 2), (1, 2, 3, 5)]], 6)
    exact = ctmc.exact_gradient(theta, data)
    # 8 independent chains at once: the same data and θ as 8 fits of one batch
    chains = ctmc.approx_gradient(theta.expand(8, 6, 6), data.tile(8), n_samples=2000, exact_below=0,
                                  proposal=proposal, generator=torch.Generator().manual_seed(0))
    error = (chains.mean(0) - exact).abs()
    mc_error = chains.std(0) / np.sqrt(len(chains))
    assert torch.all(error <= 5 * mc_error + 2e-3)
    assert exact.abs().max() > 0.1  # a gradient worth matching


def test_mh_states_follow_the_ordering_posterior():
    theta = random_theta(5, 5, scale=1.0)
    items, sizes = torch.tensor([[0, 2, 4, 1]]), torch.tensor([4])
    orders, held = ctmc.mh_orderings(theta, items, sizes, n_samples=5000,
                                     generator=torch.Generator().manual_seed(1))
    assert torch.allclose(held.sum(1), torch.ones(1, dtype=F64))
    perms = list(itertools.permutations([0, 2, 4, 1]))
    log_p = ctmc.sequence_loglik(theta, torch.tensor(perms))
    posterior = (log_p - torch.logsumexp(log_p, 0)).exp()
    code = {p: i for i, p in enumerate(perms)}
    est = torch.zeros(len(perms), dtype=F64)
    for row, w in zip(orders[0].tolist(), held[0].tolist(), strict=True):
        est[code[tuple(row)]] += w
    assert (est - posterior).abs().max() < 0.04


def test_exact_ordering_distribution_matches_simulation():
    theta = random_theta(5, 6)
    theta[2:, :2] = 0.0  # items 2.. cannot influence 0, 1 ...
    theta[2:, 2:] = torch.diag(theta.diagonal()[2:])
    theta[4, 2] = 1.0  # ... and item 4 influences item 2
    labels, exact = ctmc.ordering_distribution(theta, [0, 1])
    assert len(ctmc._ancestors(theta, [0, 1])) == 0  # no path into the pair: exact on the pair alone
    theta[2, 1] = 0.8  # now 2 influences the pair: 2 and 4 are its ancestors
    labels, exact = ctmc.ordering_distribution(theta, [0, 1])
    assert sorted(ctmc._ancestors(theta, [0, 1])) == [2, 4]
    _, mc = ctmc.ordering_distribution(theta, [0, 1], max_exact=1, n_samples=100_000,
                                       generator=torch.Generator().manual_seed(2))
    assert labels == [(), (0,), (1,), (0, 1), (1, 0)]
    assert abs(float(exact.sum()) - 1) < 1e-12
    assert (exact - mc).abs().max() < 0.01
    assert ctmc.ordering_kl(theta, theta, [0, 1]) == pytest.approx(0.0, abs=1e-12)


def test_two_item_ridge_reproduces_the_set_distribution_with_any_order():
    truth = torch.tensor(ctmc.SYNTH2, dtype=F64)
    pair = [(), (0,), (1,), (0, 1)]
    p = ctmc.set_loglik(truth, pair).exp()
    top = ctmc.ridge_max_promote(p)
    ridge = ctmc.two_item_ridge(p, np.linspace(-5, top - 1e-3, 9))
    for theta in ridge:
        assert_close(ctmc.set_loglik(theta, pair).exp(), p, atol=1e-13)
    orders = [ctmc.order_probability(t, 0, 1) for t in ridge]
    assert orders[0] < 0.05 and orders[-1] > 0.95 and np.all(np.diff(orders) > 0)
    with pytest.raises(ValueError, match="below"):
        ctmc.two_item_ridge(p, [top + 0.1])


def test_batched_fits_of_smaller_ground_sets_equal_their_own_models():
    theta = random_theta(6, 7)
    sets = ctmc.sample(theta, 300, torch.Generator().manual_seed(3)).sets()
    small = ctmc.restrict_sets(sets, 4)
    data = ctmc.prepare_sets([sets, small], 6, n_active=[6, 4])
    padded = torch.stack([theta, theta])  # fit 1 ignores items 4, 5 entirely
    ll = ctmc.log_likelihood(padded, data)
    assert float(ll[0]) == pytest.approx(float(ctmc.set_loglik(theta, sets).mean()), abs=1e-12)
    assert float(ll[1]) == pytest.approx(float(ctmc.set_loglik(theta[:4, :4], small).mean()), abs=1e-12)
    # gradients: zero outside fit 1's ground set, its own model's inside; the MH path agrees too
    own = ctmc.exact_gradient(theta[:4, :4], ctmc.prepare_sets([small], 4))[0]
    grad = ctmc.exact_gradient(padded, data)[1]
    assert_close(grad[:4, :4], own, atol=1e-12)
    assert float(grad[4:].abs().max()) == 0 and float(grad[:, 4:].abs().max()) == 0
    mh = ctmc.approx_gradient(padded, data, n_samples=400, exact_below=0,
                              generator=torch.Generator().manual_seed(4))[1]
    assert float(mh[4:].abs().max()) == 0 and float(mh[:, 4:].abs().max()) == 0
    assert float((mh[:4, :4] - own).abs().max()) < 0.05


def test_prepare_sets_merges_duplicates_and_weights_each_fit():
    data = ctmc.prepare_sets([[(1, 0), (0, 1), (2,)], np.array([[1, 0, 1]])], 3, counts=[[1, 1, 2], None])
    assert data.items.shape[0] == 3  # {0, 1} once, {2}, and the second fit's {0, 2}
    totals = torch.zeros(2, dtype=F64).index_add(0, data.fit, data.weights)
    assert_close(totals, torch.ones(2, dtype=F64), atol=1e-12)


def test_ctmc_estimator_fits_and_is_deterministic():
    truth = ctmc.synthetic_theta(ctmc.SYNTH2, 3, generator=torch.Generator().manual_seed(0))
    sets = ctmc.sample(truth, 200, torch.Generator().manual_seed(1)).sets()
    a = ctmc.CTMC(5, n_restarts=2, max_iter=40, warm_start_iter=20, random_state=3).fit(sets)
    b = ctmc.CTMC(5, n_restarts=2, max_iter=40, warm_start_iter=20, random_state=3).fit(sets)
    assert a.theta_.shape == (5, 5) and a.thetas_.shape == (2, 5, 5)
    assert_close(a.theta_, b.theta_, atol=0)
    assert a.score(sets) == pytest.approx(float(a.loglik_.max()), abs=1e-9)
    assert a.score(sets) > float(ctmc.set_loglik(torch.zeros(5, 5, dtype=F64), sets).mean())


def test_bad_input_is_a_clear_value_error():
    theta = random_theta(3, 0)
    with pytest.raises(ValueError, match="NaN"):
        ctmc.set_loglik(theta * float("nan"), [(0,)])
    with pytest.raises(ValueError, match="square"):
        ctmc.sample(torch.zeros(2, 3), 10)
    with pytest.raises(ValueError, match="outside the ground set"):
        ctmc.set_loglik(theta, [(0, 3)])
    with pytest.raises(ValueError, match="repeats"):
        ctmc.set_loglik(theta, [(1, 1)])
    with pytest.raises(ValueError, match="non-negative"):
        ctmc.prepare_sets([[(0,), (1,)]], 3, counts=[[1, -2]])
    with pytest.raises(ValueError, match="non-negative"):
        ctmc.CTMC(3).fit([(0,), (1,)], counts=[1, -1])
    with pytest.raises(ValueError, match="n_samples"):
        ctmc.sample(theta, -5)
    with pytest.raises(ValueError, match="outside the ground set"):
        ctmc.sequence_loglik(theta, torch.tensor([[0, 7]]))
    with pytest.raises(ValueError, match="proposal"):
        ctmc.mh_orderings(theta, torch.tensor([[0, 1]]), torch.tensor([2]), proposal="gibbs")
    with pytest.raises(ValueError, match="not fitted"):
        ctmc.CTMC(3).score([(0,)])
