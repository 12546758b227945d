"""The sparse-regression bench: references, implicit biases, conserved quantities, batched = separate runs."""

import numpy as np
import pytest
import torch

from relml.models import EnsembleMLP
from relml.optim import testbench as B


@pytest.fixture(scope="module")
def problems():
    return B.regression_problems(12, 40, 2, seeds=[0, 1])


def test_references_interpolate_and_basis_pursuit_has_the_smaller_l1(problems):
    for ref in (problems.min_l2, problems.min_l1):
        assert float(B.squared_loss(ref, problems).max()) < 1e-12  # (the LP solves to ~1e-8)
    assert bool((problems.min_l1.abs().sum(-1) <= problems.min_l2.abs().sum(-1) + 1e-6).all())
    assert bool((problems.min_l1.abs().sum(-1) <= problems.theta.abs().sum(-1) + 1e-6).all())
    with pytest.raises(ValueError, match="underdetermined"):
        B.regression_problems(10, 10, 2, seeds=0)


def test_gradient_descent_from_zero_reaches_the_min_l2_interpolant(problems):
    model = B.LinearRegressor(2, 40)
    traj = B.run_regression(model, problems, torch.optim.SGD(model.parameters(), lr=0.1), 500,
                            record_every=100)
    assert traj["dist_min_l2"][-1].max() < 1e-6  # closed form X⁺y = the simulation's limit
    assert traj["loss"].shape == (len(traj.steps), 2) and traj.steps[-1] == 500
    assert np.isinf(B.steps_to(traj, "dist_min_l1", 1e-6)).all()


def test_diagonal_network_keeps_m2_minus_w2_up_to_step_size_squared(problems):
    model = B.DiagonalLinearNetwork(2, 40, imbalance=0.3, theta0=0.1)
    start = (model.m.detach() ** 2 - model.w.detach() ** 2).clone()
    torch.testing.assert_close(start, torch.full_like(start, 0.3))
    torch.testing.assert_close(model.theta.detach(), torch.full((2, 40), 0.1, dtype=torch.float64))
    for lr in (1e-3, 1e-4):
        model = B.DiagonalLinearNetwork(2, 40, imbalance=0.3, theta0=0.1)
        B.run_regression(model, problems, torch.optim.SGD(model.parameters(), lr=lr), 50, record_every=50)
        drift = float((model.m.detach() ** 2 - model.w.detach() ** 2 - 0.3).abs().max())
        if lr == 1e-3:
            coarse = drift
    assert drift < coarse / 50  # gradient flow conserves m² − w²; a step of size η changes it by O(η²)


def test_batched_problems_train_exactly_like_separate_runs(problems):
    joint = B.LinearRegressor(2, 40, init=0.01)
    B.run_regression(joint, problems, torch.optim.Adam(joint.parameters(), lr=1e-2), 20, record_every=20)
    one = B.regression_problems(12, 40, 2, seeds=[1])
    single = B.LinearRegressor(1, 40, init=0.01)
    B.run_regression(single, one, torch.optim.Adam(single.parameters(), lr=1e-2), 20, record_every=20)
    torch.testing.assert_close(joint.theta.detach()[1], single.theta.detach()[0])


def test_support_metric_and_steps_to(problems):
    traj = B.Trajectory(np.array([0, 10, 20]), {"loss": np.array([[1.0, 1.0], [0.1, 0.5], [0.01, 0.4]])})
    np.testing.assert_array_equal(B.steps_to(traj, "loss", 0.1), [10.0, np.inf])
    measured = B._measure(problems.theta.clone(), problems)
    assert bool((measured["support"] == 1).all()) and bool((measured["recovery"] == 0).all())
    with pytest.raises(ValueError, match="metric"):
        B.steps_to(traj, "nope", 0.1)


def test_arms_concatenate_members_and_train_together():
    x, y = torch.rand(64, 6), torch.randint(0, 3, (64,))
    arms = {"a.0": EnsembleMLP([6, 8, 3], 2), "b": EnsembleMLP([6, 8, 3], 1)}
    assert B.Arms(arms)(x).shape == (3, 64, 3)
    run = B.train_arms(arms, lambda groups: torch.optim.SGD(groups, lr=0.1), (x, y), epochs=2, batch_size=32,
                       test=(x, y))
    assert set(run.accuracy) == {"a.0", "b"} and run.accuracy["a.0"].shape == (2,)
    assert len(run.history) == 2


def test_sparse_mlp_arms_keep_random_masks_and_reject_unknown_settings():
    import pytest
    import torch

    from relml.data import digits
    from relml.optim.testbench import sparse_mlp_arms

    data = digits()
    run = sparse_mlp_arms(data, "random", {"SGD": 0.0}, lambda g: torch.optim.SGD(g, lr=0.05), hidden=16,
                          members=2, beta=0.0, epochs=1, batch_size=256, mask_density=0.2,
                          gmp_sparsity=0.9, seed=0)
    assert set(run.accuracy) == {"SGD"} and run.accuracy["SGD"].shape == (2,)
    with pytest.raises(ValueError, match="'random' or 'gmp'"):
        sparse_mlp_arms(data, "lottery", {"SGD": 0.0}, lambda g: torch.optim.SGD(g, lr=0.05), hidden=16,
                        members=2, beta=0.0, epochs=1, batch_size=256, mask_density=0.2, gmp_sparsity=0.9,
                        seed=0)
