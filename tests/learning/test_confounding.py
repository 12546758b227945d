import numpy as np
import pytest
import torch

from relml.learning import confounding as cf


@pytest.fixture(autouse=True)
def one_thread():
    """The tensors here are tiny: on a busy machine, intra-op threads only add waiting."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SCM = cf.ConfoundedSCM(x_from_u=(0.8, -0.5), x_noise=1.0, y_from_x=(1.5, -1.0), y_from_u=-2.0,
                       y_noise=0.5, proxy_from_u=0.7, proxy_noise=0.2, n_proxies=3)


def per_env(x):
    """(E, n, ...) → (E, 1, n, ...): every environment its own problem."""
    return x.unsqueeze(1)


def test_environments_have_the_specified_confounder_shift():
    mu, sd = (-1.0, 2.0, 0.5), (0.5, 1.5, 1.0)
    data = SCM.sample(mu, sd, 20_000, seed=3)
    assert data.u.shape == (3, 20_000) and data.x.shape == (3, 20_000, 2)
    assert data.s.shape == (3, 20_000, 3) and data.y.shape == (3, 20_000)
    se = torch.tensor(sd, dtype=torch.float64) / 20_000**0.5
    assert ((data.u.mean(1) - torch.tensor(mu)).abs() < 4 * se).all()
    assert torch.allclose(data.u.std(1), torch.tensor(sd, dtype=torch.float64), rtol=0.03)
    # the covariates and proxies follow U's shift: E[X | e] = a mu_e, E[S | e] = c mu_e
    a = torch.tensor(SCM.x_from_u, dtype=torch.float64)
    assert torch.allclose(data.x.mean(1), torch.tensor(mu, dtype=torch.float64)[:, None] * a, atol=0.05)
    assert torch.allclose(data.s.mean((1, 2)), 0.7 * torch.tensor(mu, dtype=torch.float64), atol=0.03)


def test_a_seed_draws_the_same_data_alone_or_in_a_batch():
    batch = SCM.sample((1.0, -1.0), 0.5, 50, seed=[4, 7])
    alone = SCM.sample((1.0, -1.0), 0.5, 50, seed=7)
    assert batch.y.shape == (2, 2, 50) and torch.equal(batch.y[1], alone.y)
    assert torch.equal(batch.s[1], alone.s) and not torch.equal(batch.y[0], batch.y[1])


def test_causal_mechanism_is_invariant_given_the_confounder():
    data = SCM.sample((-2.0, 0.0, 3.0), (0.5, 2.0, 1.0), 5000, seed=0)
    with_u = cf.least_squares(per_env(torch.cat([data.x, data.u[..., None]], -1)), per_env(data.y))
    truth = torch.tensor([1.5, -1.0, -2.0], dtype=torch.float64)
    assert torch.allclose(with_u.weight, truth.expand(3, 3), atol=0.05)
    assert with_u.bias.abs().max() < 0.1
    # without U the regression of Y on X changes from one environment to the next
    without_u = cf.least_squares(per_env(data.x), per_env(data.y))
    assert without_u.bias.max() - without_u.bias.min() > 2.0


def test_pooled_erm_carries_the_omitted_variable_bias():
    scm = cf.ConfoundedSCM(x_from_u=(0.75,), x_noise=1.5, y_from_x=(1.0,), y_from_u=-3.0, n_proxies=0)
    mu, sd = (2.0, -2.0), (0.5, 0.5)
    data = scm.sample(mu, sd, 40_000, seed=1)
    var_u = 0.25 + 4.0  # a 50/50 mixture of N(+-2, 0.5^2)
    cov_xu, var_x = 0.75 * var_u, 0.75**2 * var_u + 1.5**2
    slope = 1.0 + -3.0 * cov_xu / var_x  # beta + gamma Cov(X, U) / Var(X)
    fit = cf.least_squares(data.x, data.y)
    assert abs(fit.weight.item() - slope) < 0.02 and abs(slope - 1.0) > 1.0


def test_population_errors_match_a_large_sample_and_fall_with_proxies():
    ks = [0, 1, 3, 8]
    scm = cf.ConfoundedSCM(n_proxies=8)
    pop = cf.population_errors(scm, ks, train_sd=(0.5, 1.0), test_mu=(0.0, 4.0, -3.0))
    train = scm.sample(cf.TRAIN_MU, (0.5, 1.0), 40_000, seed=0)
    test = scm.sample((0.0, 4.0, -3.0), cf.U_SD, 40_000, seed=1)
    fit = cf.least_squares(cf.proxy_ladder(train, ks), train.y.expand(len(ks), *train.y.shape))
    assert torch.allclose(fit.risks(cf.proxy_ladder(train, ks), train.y).mean(-1), pop.iid, rtol=0.03)
    assert torch.allclose(fit.risks(cf.proxy_ladder(test, ks), test.y).mean(-1), pop.ood, rtol=0.03)
    assert (pop.ood.diff() < 0).all() and pop.ood[-1] > scm.y_noise**2


def test_erm_recovers_the_true_coefficients_without_confounding():
    # U still shifts Y's mean across environments, but no longer reaches X: no backdoor path
    scm = cf.ConfoundedSCM(x_from_u=(0.0, 0.0), y_from_x=(1.5, -1.0), y_from_u=-2.0, n_proxies=0)
    n = 20_000
    data = scm.sample((2.0, -2.0), 0.5, n, seed=2)
    residual_sd = (2.0**2 * (0.25 + 4.0) + 0.5**2) ** 0.5  # gamma U + noise, pooled
    for fit in (cf.least_squares(data.x, data.y), cf.fit_linear(data.x, data.y, "erm", steps=300)):
        assert torch.allclose(fit.weight, torch.tensor([1.5, -1.0], dtype=torch.float64),
                              atol=4 * residual_sd / (2 * n) ** 0.5)


def test_training_loop_erm_is_least_squares_and_padding_is_inert():
    data = cf.PROXY_SCM.sample(cf.TRAIN_MU, cf.U_SD, 100, seed=[0, 1])
    x = cf.proxy_ladder(data, [0, 3, 20])  # (K, S, E, n, 21)
    y = data.y.expand(3, *data.y.shape)
    fit, ref = cf.fit_linear(x, y, "erm", steps=800, lr=0.1, init="zero"), cf.least_squares(x, y)
    assert torch.allclose(fit.weight, ref.weight, atol=1e-6) and torch.allclose(fit.bias, ref.bias, atol=1e-6)
    assert (fit.weight[0, :, 1:] == 0).all() and (fit.weight[1, :, 4:] == 0).all()
    assert fit.objective[-1] <= fit.objective[0]


def test_moment_form_of_the_objectives_equals_the_sample_form():
    data = SCM.sample((1.0, -1.0, 0.0), (0.5, 1.0, 2.0), 64, seed=5)
    x = torch.cat([data.x, data.s], -1)
    theta = torch.randn(6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    pred = x @ theta[:-1] + theta[-1]
    risks, irm = cf.Moments.of(x, data.y).terms(theta)
    assert torch.allclose(risks, cf.env_risks(pred, data.y))
    assert torch.allclose(irm, cf.irm_penalty(pred, data.y))
    q = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    for method in cf.METHODS:
        assert torch.allclose(cf.objective(method, pred, data.y, penalty=0.7, q=q),
                              cf._combine(method, risks, irm, 0.7, q))


def test_one_loop_trains_each_method_as_if_alone_on_its_own_objective():
    data = cf.PROXY_SCM.sample((2.0, -2.0), (0.5, 1.5), 60, seed=[0, 1])
    x = cf.covariates(data, "X+S", 3)
    together = cf.fit_methods(x, data.y, cf.METHODS, irm_lambda=2.0, vrex_lambda=3.0, eta=0.05, steps=40)
    start = cf.least_squares(x, data.y).predict(x)  # every method starts from the ERM solution
    q = cf.groupdro_weights(torch.full((2, 2), 0.5, dtype=torch.float64), cf.env_risks(start, data.y), 0.05)
    for method, penalty in zip(cf.METHODS, (0.0, 2.0, 3.0, 0.0), strict=True):
        alone = cf.fit_linear(x, data.y, method, penalty=penalty, eta=0.05, steps=40)
        assert torch.allclose(together[method].weight, alone.weight, rtol=1e-9, atol=1e-12)
        first = cf.objective(method, start, data.y, penalty=penalty, q=q).sum()
        assert torch.isclose(together[method].objective[0], first, rtol=1e-9)
    assert (together["groupdro"].group_weights != 0.5).all()
    assert (together["erm"].group_weights == 0.5).all()


def test_irm_penalty_vanishes_at_a_model_optimal_in_every_environment():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 200, 2, generator=g, dtype=torch.float64) * torch.tensor([[[1.0]], [[2.0]], [[0.5]]])
    x = x + torch.tensor([[[0.0]], [[3.0]], [[-1.0]]])
    design = torch.cat([x, torch.ones_like(x[..., :1])], -1)
    noise = torch.randn(3, 200, 1, generator=g, dtype=torch.float64)
    noise = noise - design @ torch.linalg.lstsq(design, noise).solution  # orthogonal to (x, 1) in each env
    w, b = torch.tensor([2.0, -1.0], dtype=torch.float64), 0.5
    y = x @ w + b + noise[..., 0]
    pred = x @ w + b
    assert cf.env_risks(pred, y).min() > 0.5  # a noisy model, yet the best one in every environment
    assert cf.irm_penalty(pred, y).max() < 1e-20
    assert cf.irm_penalty(x @ (w * 1.1) + b, y).min() > 1e-3
    # started there (from ERM, which finds it too), IRM's training stays: the penalty has nothing to correct
    irm = cf.fit_linear(x, y, "irm", penalty=10.0, steps=300)
    assert torch.allclose(irm.weight, w, atol=1e-4) and abs(irm.bias.item() - b) < 1e-4


def test_vrex_penalty_is_the_variance_of_the_risks():
    risks = torch.tensor([[1.0, 3.0], [2.0, 2.0]])
    assert torch.allclose(cf.vrex_penalty(risks), torch.tensor([1.0, 0.0]))


def test_groupdro_weights_move_toward_the_worst_group():
    q = torch.full((3,), 1 / 3, dtype=torch.float64)
    risks = torch.tensor([1.0, 3.0, 2.0], dtype=torch.float64)
    trail = [q]
    for _ in range(50):
        trail.append(cf.groupdro_weights(trail[-1], risks, eta=0.1))
    worst = torch.stack(trail)[:, 1]
    assert (worst.diff() > 0).all() and worst[-1] > 0.99
    assert torch.allclose(torch.stack(trail).sum(1), torch.ones(51, dtype=torch.float64))
    # in training, the environment with the noisier target ends up with the most weight
    scm = cf.ConfoundedSCM(x_from_u=(0.0,), n_proxies=0)
    data = scm.sample((0.0, 0.0), 0.5, 200, seed=0)
    y = data.y + torch.tensor([[0.0], [2.0]], dtype=torch.float64) * torch.randn(
        2, 200, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    fit = cf.fit_linear(data.x, y, "groupdro", eta=0.01, steps=300)
    assert fit.group_weights[1] > 0.9


def test_domain_statistics_match_numpy():
    data = SCM.sample((1.0, -1.0), (0.5, 2.0), 101, seed=0)
    stats = cf.domain_statistics(data.x).numpy()  # (E, d, 5)
    x = data.x.numpy()
    med = np.median(x, axis=1, keepdims=True)
    want = np.stack([x.mean(1), x.std(1, ddof=1), 1.482602218505602 * np.median(np.abs(x - med), axis=1),
                     np.quantile(x, 0.25, axis=1), np.quantile(x, 0.75, axis=1)], -1)
    assert np.allclose(stats, want)
    feats = cf.covariates(data, "X+stats")
    assert feats.shape == (2, 101, 12) and torch.equal(feats[:, 0, 2:], feats[:, -1, 2:])


def test_experiments_give_errors_per_seed_and_setting():
    small = cf.ConfoundedSCM(n_proxies=4)
    sweep = cf.proxy_sweep(small, [0, 2, 4], [0, 1], n_train=40, n_test=30, steps=30)
    assert set(sweep) == set(cf.METHODS) and sweep["irm"].ood.shape == (2, 3)
    assert all(torch.isfinite(e.ood).all() and (e.iid > 0).all() for e in sweep.values())
    sets = cf.compare_covariates(cf.INTRO_SCM, [0, 1, 2], n_train=60, n_test=60)
    assert set(sets) == set(cf.COVARIATE_SETS) and sets["X+U"].ood.shape == (3,)
    assert (sets["X+U"].iid < sets["X"].iid).all()  # in-sample error falls as columns are added


def test_bad_input_raises_a_clear_error():
    data = SCM.sample((1.0, -1.0), 0.5, 20, seed=0)
    with pytest.raises(ValueError, match="one of erm"):
        cf.fit_linear(data.x, data.y, "dann")
    with pytest.raises(ValueError, match="finite"):
        cf.fit_linear(data.x, data.y.clone().fill_(float("nan")))
    with pytest.raises(ValueError, match=r"y \(\.\.\., E, n\)"):
        cf.fit_linear(data.x, data.y[:, :5])
    with pytest.raises(ValueError, match="sds > 0"):
        SCM.sample((1.0, -1.0), (0.5, 0.0), 20)
    with pytest.raises(ValueError, match="one mean per environment"):
        SCM.sample((1.0, -1.0), (0.5, 0.5, 0.5), 20)
    with pytest.raises(ValueError, match="same number"):
        cf.ConfoundedSCM(x_from_u=(1.0, 2.0), y_from_x=(1.0,))
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        cf.covariates(data, "X+S", proxies=4)
    with pytest.raises(ValueError, match="one of X"):
        cf.covariates(data, "all")
