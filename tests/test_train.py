import pytest
import torch
from torch import nn

from relml.data import gaussian_mixture
from relml.train import batches, evaluate, fit


def make(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    return model, opt, sched


DATA = gaussian_mixture(300, 5, 3, seed=1)


def test_training_lowers_the_loss_and_records_eval_metrics():
    model, opt, sched = make()
    before = evaluate(model, DATA)["loss"]
    hist = fit(model, DATA, opt, epochs=5, scheduler=sched, eval_data=DATA, progress=False)
    assert len(hist) == 5 and hist["eval_loss"][-1] < before and hist.last["eval_acc"] > 0.8
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**2)


def test_resume_continues_an_interrupted_run_to_the_same_result(tmp_path):
    ref, opt, sched = make()
    full = fit(ref, DATA, opt, epochs=6, scheduler=sched, progress=False, seed=4)

    ckpt = tmp_path / "run.pt"
    model, opt, sched = make()
    fit(model, DATA, opt, epochs=3, scheduler=sched, progress=False, seed=4, checkpoint=ckpt)
    model, opt, sched = make(seed=99)  # a fresh process: different initial state
    resumed = fit(model, DATA, opt, epochs=6, scheduler=sched, progress=False, seed=4, checkpoint=ckpt,
                  resume=True)
    assert resumed["train_loss"] == full["train_loss"]
    for a, b in zip(ref.parameters(), model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]  # written atomically, no temp files


def test_callbacks_run_after_every_step_and_add_epoch_metrics():
    class Count:
        def __init__(self):
            self.steps = 0

        def on_step_end(self, model, step):
            self.steps += 1
            with torch.no_grad():
                model[0].weight[:, 0] = 0.0  # e.g. a mask

        def on_epoch_end(self, model, epoch):
            return {"zeroed": model[0].weight[:, 0].abs().sum().item()}

    model, opt, _ = make()
    cb = Count()
    hist = fit(model, DATA, opt, epochs=2, batch_size=100, callbacks=[cb], progress=False)
    assert cb.steps == 6 and hist["zeroed"] == [0.0, 0.0]


def test_bad_input_is_a_clear_error():
    model, opt, _ = make()
    with pytest.raises(ValueError, match="epochs"):
        fit(model, DATA, opt, epochs=0)
    with pytest.raises(ValueError, match="checkpoint"):
        fit(model, DATA, opt, epochs=1, resume=True)
    x, y = DATA
    with pytest.raises(FloatingPointError, match="NaN"):
        fit(model, (x * float("nan"), y), opt, epochs=1, progress=False)


def test_batches_cover_every_sample_once():
    x = torch.arange(10).float()[:, None]
    seen = torch.cat([b[0] for b in batches((x, x), 3, torch.Generator().manual_seed(0))])
    assert sorted(seen.flatten().tolist()) == list(range(10))
