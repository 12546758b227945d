"""Train–prune cycles: IMP's rewind restores θ_k, LRR keeps weights and restarts the schedule, masks keep
their densities and only shrink, prescribed masks and signs are honoured, budgets add up."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from relml.models import EnsembleMLP
from relml.sparse import iterative
from relml.sparse.iterative import Cycle, cycle_optimizer, imp_densities, prune_cycles, train_cycle
from relml.sparse.masks import random_masks

D_IN, CLASSES = 6, 3


def toy_data(n: int = 96, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, D_IN, generator=g)
    return x, (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 1).long()


class BNNet(nn.Module):
    """Linear → BN → ReLU → Linear: to check that IMP rewinds BN's γ, β but not its statistics."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.bn, self.fc2 = nn.Linear(D_IN, 16), nn.BatchNorm1d(16), nn.Linear(16, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.bn(self.fc1(x))))


def capture_states(monkeypatch) -> dict[str, dict[str, torch.Tensor]]:
    """Spy on `train_cycle`: the model's state at the start of cycle 1 (right after prune and rewind,
    key "start1") and after the dense pretraining (key "theta_k")."""
    seen: dict[str, dict[str, torch.Tensor]] = {}
    original = iterative.train_cycle

    def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in model.state_dict().items()}

    def spy(model, data, cycle, **kwargs):
        if kwargs.get("desc", "").endswith(" 1"):
            seen["start1"] = snapshot(model)
        out = original(model, data, cycle, **kwargs)
        if kwargs.get("desc") == "warmup":
            seen["theta_k"] = snapshot(model)
        return out

    monkeypatch.setattr(iterative, "train_cycle", spy)
    return seen


def test_imp_densities_and_cycle_validation():
    assert imp_densities(3, 0.2) == pytest.approx([1.0, 0.8, 0.64, 0.512])
    with pytest.raises(ValueError, match="rate"):
        imp_densities(3, 1.0)
    with pytest.raises(ValueError, match="rounds"):
        imp_densities(-1)
    with pytest.raises(ValueError, match="warmup_epochs"):
        Cycle(epochs=2, lr=0.1, warmup_epochs=3)
    with pytest.raises(ValueError, match="optimizer"):
        Cycle(epochs=2, lr=0.1, optimizer="lbfgs")
    with pytest.raises(ValueError, match="lr"):
        Cycle(epochs=2, lr=float("nan"))


def test_cycle_schedule_warms_up_then_anneals_to_zero():
    net = nn.Linear(2, 2)
    opt, sched = cycle_optimizer(net, Cycle(epochs=4, lr=0.4, warmup_epochs=1), steps_per_epoch=5)
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:5] == pytest.approx([0.08, 0.16, 0.24, 0.32, 0.4])  # linear warmup over one epoch
    assert lrs[5] == pytest.approx(0.4) and all(b <= a for a, b in zip(lrs[5:], lrs[6:], strict=False))
    assert lrs[-1] == pytest.approx(0.2 * (1 + math.cos(math.pi * 14 / 15)))


def test_lrr_restarts_the_schedule_every_cycle_and_keeps_the_weights(monkeypatch):
    x, y = toy_data()
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(D_IN, 12), nn.ReLU(), nn.Linear(12, CLASSES))
    seen: list[float] = []
    original = torch.optim.SGD.step

    def spy(self, *args, **kwargs):  # record the LR of every optimizer step
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", spy)
    cycle = Cycle(epochs=2, lr=0.1, batch_size=32)
    before = []

    def metrics(model: nn.Module) -> dict[str, float]:
        before.append([p.detach().clone() for p in model.parameters()])
        return {}

    run = prune_cycles(net, (x, y), cycle, imp_densities(2, 0.5), metrics=metrics, progress=False)
    per_cycle = 2 * 3  # epochs × ceil(96 / 32) steps
    assert len(seen) == 3 * per_cycle
    for c in range(3):  # every cycle starts again at the full learning rate and anneals
        lrs = seen[c * per_cycle:(c + 1) * per_cycle]
        assert lrs[0] == pytest.approx(0.1) and lrs[-1] < 0.02
    # LRR keeps the trained weights: the survivors at the start of cycle 1 carry cycle 0's trained signs
    w_end0 = before[0][0]
    kept = run.masks[1][0]
    assert torch.equal(torch.sign(w_end0)[kept].to(torch.int8), run.start_signs[1][0][kept])
    assert run.table.epochs.tolist() == [2, 4, 6]


def test_imp_rewind_restores_theta_k_on_the_survivors_and_bn_affine_but_not_bn_statistics(monkeypatch):
    x, y = toy_data()
    torch.manual_seed(1)
    net = BNNet()
    snapshots = capture_states(monkeypatch)
    run = prune_cycles(net, (x, y), Cycle(epochs=2, lr=0.05, batch_size=32), [1.0, 0.5], rewind=True,
                       pretrain_epochs=1, progress=False)
    theta_k, start = snapshots["theta_k"], snapshots["start1"]
    for name in ("fc1.weight", "fc2.weight"):
        mask = run.masks[1][0 if name == "fc1.weight" else 1]
        assert torch.equal(start[name][mask], theta_k[name][mask])  # survivors rewound exactly
        assert torch.all(start[name][~mask] == 0)  # pruned weights are zero
    for name in ("fc1.bias", "bn.weight", "bn.bias"):
        assert torch.equal(start[name], theta_k[name])
    assert not torch.equal(start["bn.running_mean"], theta_k["bn.running_mean"])  # statistics kept
    assert run.table.epochs.tolist() == [3, 5]  # one pretraining epoch counted in the budget


def test_rewind_buffers_also_restores_bn_statistics(monkeypatch):
    x, y = toy_data()
    torch.manual_seed(2)
    net = BNNet()
    seen = capture_states(monkeypatch)
    prune_cycles(net, (x, y), Cycle(epochs=1, lr=0.05), [1.0, 0.5], rewind=True, rewind_buffers=True,
                 progress=False)
    assert torch.equal(seen["start1"]["bn.running_mean"], torch.zeros(16))  # θ_0's running mean


def test_masks_keep_the_asked_density_shrink_and_pruned_weights_stay_zero():
    x, y = toy_data()
    ens = EnsembleMLP([D_IN, 20, 20, CLASSES], members=3, generator=torch.Generator().manual_seed(0))
    dens = imp_densities(3, 0.3)
    run = prune_cycles(ens, (x, y), Cycle(epochs=1, lr=0.05), dens, stacked=True, loss_fn=ens.loss,
                       progress=False)
    n = sum(w[0].numel() for w in ens.weights)
    for i, d in enumerate(dens):
        got = run.table[run.table.cycle == i].density.to_numpy()
        assert got == pytest.approx([round(n * d) / n] * 3, abs=1.5 / n)
        if i:
            for a, b in zip(run.masks[i - 1], run.masks[i], strict=True):
                assert not torch.any(b & ~a)  # masks only shrink
    for w, m in zip(ens.weights, run.masks[-1], strict=True):
        assert torch.all(w.detach()[~m] == 0)
    assert set(run.table.columns) >= {"cycle", "run", "density", "epochs", "flips_init", "flips_prev"}


def test_cyclic_training_of_a_fixed_mask_keeps_that_mask():
    x, y = toy_data()
    ens = EnsembleMLP([D_IN, 20, CLASSES], members=2, generator=torch.Generator().manual_seed(0))
    masks = random_masks(ens, [0.3, 0.3], torch.Generator().manual_seed(1))
    # planned a little below the mask's realised density (exact-k rounding): still no pruning
    run = prune_cycles(ens, (x, y), Cycle(epochs=1, lr=0.05), [0.29] * 3, init_masks=masks, stacked=True,
                       loss_fn=ens.loss, progress=False)
    for cycle_masks in run.masks:
        for a, b in zip(cycle_masks, masks, strict=True):
            assert torch.equal(a, b.bool())


def test_prescribed_masks_and_signs_are_imposed_on_the_rewound_survivors(monkeypatch):
    x, y = toy_data()

    def fresh() -> EnsembleMLP:
        return EnsembleMLP([D_IN, 16, CLASSES], members=2, generator=torch.Generator().manual_seed(5))

    ref = prune_cycles(fresh(), (x, y), Cycle(epochs=2, lr=0.1), [1.0, 0.5], stacked=True,
                       loss_fn=EnsembleMLP.loss, progress=False)
    flipped = [[-s for s in signs] for signs in ref.start_signs]  # opposite of LRR's signs
    masks = [[m.float() for m in ms] for ms in ref.masks]
    net = fresh()
    theta0 = [w.detach().clone() for w in net.weights]
    starts = capture_states(monkeypatch)
    prune_cycles(net, (x, y), Cycle(epochs=2, lr=0.1), [1.0, 0.5], rewind=True, masks=masks,
                 signs=[None, flipped[1]], stacked=True, loss_fn=EnsembleMLP.loss, progress=False)
    start = [starts["start1"][f"weights.{i}"] for i in range(len(theta0))]
    for w, w0, m, s in zip(start, theta0, ref.masks[1], flipped[1], strict=True):
        assert torch.equal(w[m].abs(), w0[m].abs())  # θ_0's magnitudes
        assert torch.equal(torch.sign(w[m]).to(torch.int8), s[m])  # the imposed signs
        assert torch.all(w[~m] == 0)


def test_bad_plans_raise_clear_errors():
    x, y = toy_data()
    net = nn.Sequential(nn.Linear(D_IN, 4), nn.ReLU(), nn.Linear(4, CLASSES))
    cycle = Cycle(epochs=1, lr=0.1)
    with pytest.raises(ValueError, match="non-increasing"):
        prune_cycles(net, (x, y), cycle, [0.5, 0.8], progress=False)
    with pytest.raises(ValueError, match="density"):
        prune_cycles(net, (x, y), cycle, [1.0, 0.0], progress=False)
    with pytest.raises(ValueError, match="one entry per cycle"):
        prune_cycles(net, (x, y), cycle, [1.0, 0.5], signs=[None], progress=False)
    with pytest.raises(ValueError, match="pretrain_epochs"):
        prune_cycles(net, (x, y), cycle, [1.0], pretrain_epochs=-1, progress=False)


def test_same_seed_same_numbers():
    x, y = toy_data()

    def once() -> list[float]:
        ens = EnsembleMLP([D_IN, 12, CLASSES], members=2, generator=torch.Generator().manual_seed(0))
        run = prune_cycles(ens, (x, y), Cycle(epochs=1, lr=0.1), [1.0, 0.6], stacked=True,
                           loss_fn=ens.loss, metrics=lambda m: {"w": m.weights[0].detach().sum((1, 2))},
                           seed=4, progress=False)
        return run.table.w.tolist()

    assert once() == once()


def test_train_cycle_uses_a_fresh_optimizer(monkeypatch):
    x, y = toy_data()
    net = nn.Linear(D_IN, CLASSES)
    seen = []
    original = iterative.fit

    def spy(model, data, optimizer, **kwargs):
        seen.append((optimizer, len(optimizer.state)))
        return original(model, data, optimizer, **kwargs)

    monkeypatch.setattr(iterative, "fit", spy)
    cycle = Cycle(epochs=2, lr=0.1, optimizer="adam")
    first, second = train_cycle(net, (x, y), cycle), train_cycle(net, (x, y), cycle)
    (opt1, state1), (opt2, state2) = seen
    assert opt1 is not opt2 and state1 == state2 == 0  # no Adam moments carried over
    assert isinstance(opt2, torch.optim.Adam) and len(opt1.state) > 0
    assert second["train_loss"][-1] < first["train_loss"][0]
