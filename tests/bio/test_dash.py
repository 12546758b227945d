"""relml.bio.dash: DASH's prior-guided score, the pruning loop and the baselines."""

import numpy as np
import pytest
import torch

from relml.bio import dash
from relml.bio.grn import GRNData, Phoenix, load_sim350, transitions


def small_data(n_genes: int = 24, seed: int = 0) -> GRNData:
    """A sub-network of the shipped data: the first inputs and the targets they regulate most."""
    full = load_sim350()
    truth = full.truth
    gen = torch.Generator().manual_seed(seed)
    targets = torch.nonzero(~full.inputs).flatten()
    regs = torch.nonzero((truth[:, targets] != 0).any(dim=1)).flatten()
    picked = targets[torch.randperm(len(targets), generator=gen)][: n_genes // 2]
    keep = torch.cat([regs[: n_genes // 2], picked]).unique()

    def sub(m: torch.Tensor) -> torch.Tensor:
        return m[keep][:, keep]

    return GRNData(full.trajectories[..., keep], full.times, sub(truth),
                   {k: sub(p) for k, p in full.priors.items()}, full.inputs[keep],
                   tuple(full.names[i] for i in keep.tolist()))


# ---------------------------------------------------------------------------------------------
# the score


def test_score_at_lambda_zero_is_normalised_magnitude():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(3, 5, 8, generator=gen)
    guess = torch.randn(3, 5, 8, generator=gen) * 1e3
    term = dash.normalized(w.abs())
    assert torch.allclose(term.sum(dim=(1, 2)), torch.ones(3))
    assert torch.allclose(dash.dash_score(term, guess, 0.0), term.double())
    lam = torch.tensor([0.0, 0.5, 1.0])
    mixed = dash.dash_score(term, guess, lam)
    assert torch.allclose(mixed[0], term[0].double())
    assert torch.allclose(mixed[2], guess[2].abs().double())
    # λ = 0 ignores even a non-finite guess (a singular S Sᵀ cannot leak into IMP)
    assert torch.isfinite(dash.dash_score(term, torch.full_like(guess, float("inf")), 0.0)).all()


def test_data_terms_follow_the_official_layers():
    model = Phoenix(10, 40, members=2, shared_init=False, generator=torch.Generator().manual_seed(1))
    w_p, w_s, a_s, a_p = dash.data_terms(model)
    assert torch.allclose(w_s, dash.normalized(model.w_sums.detach().abs()))
    assert torch.allclose(w_p, dash.normalized(torch.exp(model.w_prods.detach())))
    rate = torch.relu(model.gene_mult.detach())[:, :, None]
    assert torch.allclose(a_s, dash.normalized(model.a_sums.detach().abs() * rate))
    for t in (w_p, w_s, a_s, a_p):
        assert torch.allclose(t.sum(dim=(1, 2)), torch.ones(2))


def test_best_guess_input_is_the_least_squares_solution():
    """If PPI = Sᵀ X exactly (S of full row rank), P̂ = (S Sᵀ)⁻¹ S PPI recovers X."""
    gen = torch.Generator().manual_seed(2)
    s = torch.rand(2, 4, 9, generator=gen, dtype=torch.float64)
    x = torch.randn(2, 4, 9, generator=gen, dtype=torch.float64)
    ppi = s.transpose(1, 2) @ x
    assert torch.allclose(dash.best_guess_input(s, ppi), x, atol=1e-9)
    # and it is the minimiser: the residual is orthogonal to the rows of S
    noisy = ppi + torch.randn(2, 9, 9, generator=gen, dtype=torch.float64)
    guess = dash.best_guess_input(s, noisy)
    residual = noisy - s.transpose(1, 2) @ guess
    assert torch.allclose(s @ residual, torch.zeros(2, 4, 9, dtype=torch.float64), atol=1e-9)


def test_best_guess_output_is_the_least_squares_solution():
    """If |P|ᵀ = C S exactly, P̂ = (S |P|)ᵀ (S Sᵀ)⁻¹ recovers C."""
    gen = torch.Generator().manual_seed(3)
    s = torch.rand(4, 9, generator=gen, dtype=torch.float64)
    c = torch.rand(9, 4, generator=gen, dtype=torch.float64)
    prior = (c @ s).T * torch.where(torch.rand(9, 9, generator=gen) < 0.5, -1.0, 1.0).double()
    assert torch.allclose(dash.best_guess_output(s, prior), c, atol=1e-9)


def test_partner_matrix_is_symmetric_and_normalised():
    prior = load_sim350().priors[0.05]
    ppi = dash.partner_matrix(prior)
    assert torch.allclose(ppi, ppi.T)
    assert float(ppi.sum()) == pytest.approx(1.0)
    assert (ppi >= 0).all()
    assert torch.equal(dash.partner_matrix(torch.zeros(4, 4)), torch.zeros(4, 4, dtype=torch.float64))


def test_bad_lambda_and_shapes_raise():
    term = torch.rand(5, 8)
    for lam in (-0.1, 1.5, float("nan"), True):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            dash.dash_score(term, term, lam)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        dash.dash_score(term[None].expand(2, 5, 8), term[None].expand(2, 5, 8), torch.tensor([0.5, 2.0]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        dash.Arm("bad", lam_in=1.2, noise=0.0)
    with pytest.raises(ValueError, match="needs a prior"):
        dash.Arm("no prior", lam_in=0.5)
    with pytest.raises(ValueError, match="must match"):
        dash.dash_score(term, term.T, 0.5)
    with pytest.raises(ValueError, match="partners"):
        dash.best_guess_input(torch.rand(4, 9), torch.rand(8, 8))
    with pytest.raises(ValueError, match="prior"):
        dash.best_guess_output(torch.rand(4, 9), torch.rand(9, 8))
    with pytest.raises(ValueError, match="NaN"):
        dash.partner_matrix(torch.full((3, 3), float("nan")))


def test_threshold_rejects_bad_density():
    model = Phoenix(10, 4, members=2)
    for density in (0.0, 1.2, -0.5):
        with pytest.raises(ValueError, match=r"\(0, 1\]"):
            dash.threshold_masks(model, density, torch.tensor([True, False]))


def test_schedule_matches_the_official_loop():
    assert dash.prune_schedule(200, 3, 10) == [3] + list(range(10, 200, 10))
    assert dash.schedule_density(200, 3, 10, 0.7, 0.1) == pytest.approx(0.3 * 0.9**19)
    assert dash.schedule_density(40, 3, 2, 0.7, 0.1) == pytest.approx(0.3 * 0.9**18)
    with pytest.raises(ValueError):
        dash.prune_schedule(0, 3, 10)
    with pytest.raises(ValueError, match=">= 2"):
        dash.prune_schedule(10, 1, 2)


# ---------------------------------------------------------------------------------------------
# the pruning loop


def make_pruner(members: int = 3, n: int = 16, h: int = 6, **kwargs) -> tuple[Phoenix, dash.DashPruning]:
    gen = torch.Generator().manual_seed(4)
    model = Phoenix(n, h, members=members, shared_init=False, generator=gen)
    with torch.no_grad():
        model.w_sums.normal_(generator=gen)
        model.w_prods.normal_(generator=gen)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    prior = (torch.rand(n, n, generator=gen) < 0.2).float()
    x = torch.cat([torch.rand(5, n, generator=gen), torch.ones(5, 1)], dim=1)
    pruner = dash.DashPruning(
        model, opt, lam_in=torch.tensor([0.0, 0.5, 0.9])[:members],
        lam_out=torch.tensor([0.0, 0.5, 0.9])[:members],
        priors=prior.expand(members, n, n).clone(), prune=torch.tensor([True, True, False])[:members],
        val_data=(x, torch.rand(5, n, generator=gen)), schedule=[3, 4], generator=gen, **kwargs)
    return model, pruner


def test_prune_keeps_the_asked_density_and_masks_only_shrink():
    model, pruner = make_pruner()
    before = [m.clone() for m in pruner.mask.masks]
    pruner.prune(0.7)
    after_first = [m.clone() for m in pruner.mask.masks]
    for m in after_first:
        kept = m.flatten(1).sum(1)
        assert kept[0] == kept[1] == round(0.3 * m[0].numel())
        assert kept[2] == m[0].numel()  # a member that does not prune keeps everything
    pruner.prune(0.1)
    for old, new, start in zip(after_first, pruner.mask.masks, before, strict=True):
        assert (new <= old).all() and (old <= start).all()
        n0 = old.flatten(1).sum(1)
        assert torch.equal(new.flatten(1).sum(1)[:2], n0[:2] - torch.round(0.1 * n0[:2]))
    for w, m in zip(model.prunable_weights(), pruner.mask.masks, strict=True):
        assert torch.equal(w.detach() * (1 - m), torch.zeros_like(w))


def test_masked_weights_stay_zero_through_training():
    model, pruner = make_pruner()
    pruner.prune(0.7)
    x, y = pruner.val_data
    for step in range(5):
        pruner.optimizer.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        pruner.optimizer.step()
        pruner.on_step_end(model, step)
    for w, m in zip(model.prunable_weights(), pruner.mask.masks, strict=True):
        assert (w.detach()[m == 0] == 0).all()


def test_lambda_zero_prunes_by_magnitude():
    """IMP = DASH with λ = 0: the kept input weights of the sums layer are the largest |W|."""
    model, pruner = make_pruner(members=1)
    w = model.w_sums.detach().clone()
    pruner.prune(0.7)
    kept = pruner.mask.masks[1][0].bool()
    assert w[0].abs()[kept].min() >= w[0].abs()[~kept].max()


def test_plateau_cuts_each_member_separately():
    _, pruner = make_pruner(patience=1, factor=0.5, min_lr=1e-3)
    pruner._plateau_step(torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64))
    for _ in range(2):  # member 0 stalls, member 1 improves, member 2 stalls
        pruner._plateau_step(torch.tensor([1.0, 0.5, 1.0], dtype=torch.float64) - 0.1 * _ * torch.tensor(
            [0.0, 1.0, 0.0], dtype=torch.float64))
    assert pruner.lr[0, 0] == pytest.approx(5e-3) and pruner.lr[2, 0] == pytest.approx(5e-3)
    assert pruner.lr[1, 0] == pytest.approx(1e-2)
    for _ in range(10):
        pruner._plateau_step(torch.ones(3, dtype=torch.float64) * 2)
    assert pruner.lr.min() >= 1e-3 - 1e-12  # min_lr
    pruner._reset_lr()
    assert torch.allclose(pruner.lr, torch.tensor(pruner.base_lr, dtype=torch.float64).expand(3, -1))


def test_member_learning_rates_rescale_adam_updates():
    model, pruner = make_pruner()
    pruner.lr[1] = 0.0  # member 1 frozen, member 2 at half speed
    pruner.lr[2] = 0.5 * pruner.lr[2]
    reference = make_pruner()[0]
    x, y = pruner.val_data
    start = [p.detach().clone() for p in model.parameters()]
    for m in (model, reference):
        opt = pruner.optimizer if m is model else torch.optim.Adam(m.parameters(), lr=1e-2)
        opt.zero_grad()
        ((m(x) - y) ** 2).mean(dim=(1, 2)).sum().backward()
        opt.step()
    for p, p0, ref in zip(model.parameters(), start, reference.parameters(), strict=True):
        assert torch.equal(p.detach()[1], p0[1])
        assert torch.allclose(p.detach()[0], ref.detach()[0], atol=1e-7)
        assert torch.allclose(p.detach()[2] - p0[2], 0.5 * (ref.detach()[2] - p0[2]), atol=1e-7)


def test_pair_loss_adds_l1_per_member():
    model = Phoenix(6, 3, members=2)
    loss = dash.PairLoss(model, torch.tensor([0.0, 0.1]))
    pred, y = torch.zeros(2, 4, 6), torch.ones(4, 6)
    l1 = sum(float(w.detach()[1].abs().sum()) for w in model.prunable_weights())
    assert float(loss(pred, y).detach()) == pytest.approx(2.0 + 0.1 * l1, rel=1e-5)
    with pytest.raises(ValueError):
        dash.PairLoss(model, torch.tensor([-1.0, 0.0]))


# ---------------------------------------------------------------------------------------------
# end to end


ARMS = [dash.Arm("imp"), dash.Arm("imp_with_prior", noise=0.1), dash.Arm("l1", l1=1e-3, prune=False),
        dash.Arm("dash", 0.05, 0.01, noise=0.05)]


@pytest.fixture(scope="module")
def tiny_run() -> dash.ArmsResult:
    return dash.run_arms(small_data(), ARMS, seed=0, hidden=4, epochs=6, start=2, every=2, solver="expeuler")


def test_run_arms_matches_densities(tiny_run):
    density = dash.schedule_density(6, 2, 2, 0.7, 0.1)
    pruned = [tiny_run.index(n) for n in ("imp", "imp_with_prior", "dash")]
    # per layer round(...) of a few weights: close to the schedule's density
    assert np.allclose(tiny_run.density[pruned], density, atol=0.03)
    assert tiny_run.get("density", "l1") == pytest.approx(tiny_run.density[pruned].mean(), abs=0.03)
    assert tiny_run.scores.shape == (4, 24, 24)
    for key in ("aupr", "auroc", "precision_at_k"):
        assert tiny_run.metrics[key].shape == (4,)
    assert tiny_run.history["val_mse"].shape == (6, 4)
    assert np.isfinite(tiny_run.val_mse).all()


def test_lambda_zero_ignores_the_prior(tiny_run):
    a, b = tiny_run.index("imp"), tiny_run.index("imp_with_prior")
    assert tiny_run.val_mse[a] == tiny_run.val_mse[b]
    assert torch.equal(tiny_run.scores[a], tiny_run.scores[b])


def test_same_seed_same_numbers(tiny_run):
    again = dash.run_arms(small_data(), ARMS, seed=0, hidden=4, epochs=6, start=2, every=2, solver="expeuler")
    assert np.array_equal(again.val_mse, tiny_run.val_mse)
    table = dash.seed_table([tiny_run, again], "aupr")
    assert table.shape == (2, 4) and np.array_equal(table[0], table[1])


def test_run_arms_rejects_bad_arms():
    data = small_data()
    with pytest.raises(ValueError, match="not a shipped prior"):
        dash.run_arms(data, [dash.Arm("x", 0.5, 0.5, noise=0.3)], epochs=2)
    with pytest.raises(ValueError, match="unique"):
        dash.run_arms(data, [dash.Arm("x"), dash.Arm("x")], epochs=2)
    with pytest.raises(ValueError, match="at least one"):
        dash.run_arms(data, [], epochs=2)


def test_transitions_feed_the_model():
    data = small_data()
    x, y = transitions(data.trajectories, data.times)
    model = Phoenix(data.n_genes, 4, members=2)
    assert model(x).shape == (2, *y.shape)
