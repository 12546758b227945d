"""Time and memory of HAM, HORST and PILoT against their base optimizers (SGD, AdamW), as ratios.

Two models: an MLP 64-512-512-10 and the tiny transformer of the `horst` notebook (8 row tokens + class
token, d = 32, 4 heads, 2 blocks), both on batches of 8×8 digits. For every pair (method, base) the
script measures, in the same run and taking turns chunk by chunk so that load on the machine hits both
alike:

- a whole training step (zero_grad, forward, backward, optimizer step);
- the optimizer step alone (fixed gradients; parameters and state restored between chunks, outside the
  timed region, so multiplicative steps cannot drift to inf or 0);
- the optimizer state (bytes kept between steps) and the bytes allocated during one step (torch's
  profiler), i.e. the transient buffers of the mirror step.

Timings are the fastest of `--repeats` chunks of `--chunk` steps each (the machine's background load
only ever adds time, so the minimum is the least biased estimate of each step's own cost).
PILoT (`relml.optim.pilot`) is included when that module exists; it trains the reparameterised
model θ = m ⊙ w, so its whole step includes the doubled parameters. The fused Triton steps
(`HAM(..., fused=True)`, `HORST(fused=True)`) are timed only on a CUDA device against torch's fused
SGD / AdamW; on the CPU they run in Triton's interpreter and are only tested for equality
(tests/optim/test_hyperbolic.py).

    .venv/bin/python benchmarks/optim.py [--repeats 30] [--chunk 10] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from relml.models import MLP
from relml.models.transformer import TinyTransformer
from relml.optim import HAM, HORST
from relml.optim.hyperbolic import hyperbolic_param_groups

RESULTS = Path(__file__).resolve().parent / "results"


class _Single(nn.Module):
    """The transformer with one member, logits (batch, classes) like any classifier."""

    def __init__(self, **kwargs: int) -> None:
        super().__init__()
        self.net = TinyTransformer(members=1, **kwargs)

    def prunable_weights(self) -> list[nn.Parameter]:
        return self.net.prunable_weights()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[0]


def models() -> dict[str, Callable[[], nn.Module]]:
    return {"MLP 64-512-512-10": lambda: MLP([64, 512, 512, 10]),
            "tiny transformer d=32": lambda: _Single(dim=32, heads=4, layers=2, mlp_ratio=2)}


def pairs(fused: bool) -> dict[str, tuple[Callable, Callable, bool]]:
    """name → (make base optimizer, make method optimizer, reparameterise for PILoT)."""
    sgd = dict(lr=0.05, momentum=0.9, weight_decay=5e-4)
    adamw = dict(lr=1e-3, weight_decay=0.05)
    out = {
        "HAM vs SGD": (lambda m: torch.optim.SGD(m.parameters(), foreach=not fused, fused=fused or None,
                                                 **sgd),
                       lambda m: HAM(torch.optim.SGD(hyperbolic_param_groups(m), foreach=True, **sgd),
                                     alpha=20.0, beta=1e-3, foreach=True, fused=fused), False),
        "HORST vs AdamW": (lambda m: torch.optim.AdamW(m.parameters(), foreach=not fused,
                                                       fused=fused or None, **adamw),
                           lambda m: HORST(hyperbolic_param_groups(m), alpha=100.0, beta=1e-3,
                                           foreach=True, fused=fused, **adamw), False),
    }
    try:
        from relml.optim import pilot
    except ImportError:
        return out
    if not fused:
        out["PILoT vs SGD"] = (
            lambda m: torch.optim.SGD(m.parameters(), foreach=True, **sgd),
            lambda m: pilot.PILoT(pilot.pilot_param_groups(m, alpha=1e-4), foreach=True, **sgd), True)
    return out


def _batch(batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(batch, 64, generator=g), torch.randint(0, 10, (batch,), generator=g)
    return x.to(device), y.to(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _state_bytes(opt: torch.optim.Optimizer) -> int:
    state = opt.state_dict()["state"]
    return sum(t.numel() * t.element_size() for s in state.values() for t in s.values()
               if isinstance(t, torch.Tensor))


def _step_alloc_bytes(opt: torch.optim.Optimizer) -> int:
    """Bytes allocated (not freed first) by torch ops during one optimizer step, from the profiler."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        opt.step()
    return int(sum(max(e.self_cpu_memory_usage, 0) for e in prof.key_averages()))


class Arm:
    """One model + optimizer, able to run timed chunks of whole steps or of optimizer steps alone."""

    def __init__(self, model: nn.Module, make_opt: Callable, data, device: torch.device) -> None:
        self.model, self.data, self.device = model.to(device), data, device
        self.opt = make_opt(self.model)
        self.loss = nn.CrossEntropyLoss()
        for _ in range(3):  # warm up; creates the optimizer state
            self.train_step()
        self.params = [p for g in self.opt.param_groups for p in g["params"]]
        self.saved = [p.detach().clone() for p in self.params]
        self.saved_state = copy.deepcopy(self.opt.state_dict())

    def train_step(self) -> None:
        self.opt.zero_grad(set_to_none=True)
        self.loss(self.model(self.data[0]), self.data[1]).backward()
        self.opt.step()

    def restore(self) -> None:
        with torch.no_grad():
            for p, s in zip(self.params, self.saved, strict=True):
                p.copy_(s)
        self.opt.load_state_dict(copy.deepcopy(self.saved_state))

    def time_train(self, steps: int) -> float:
        self.restore()
        _sync(self.device)
        start = time.perf_counter()
        for _ in range(steps):
            self.train_step()
        _sync(self.device)
        return (time.perf_counter() - start) / steps

    def time_opt(self, steps: int) -> float:
        self.restore()
        _sync(self.device)
        start = time.perf_counter()
        for _ in range(steps):
            self.opt.step()
        _sync(self.device)
        return (time.perf_counter() - start) / steps


def measure(model_name: str, make_model: Callable, pair: str, base_opt: Callable, method_opt: Callable,
            reparam: bool, args: argparse.Namespace, device: torch.device) -> dict:
    torch.manual_seed(0)
    base_model = make_model()
    method_model = copy.deepcopy(base_model)
    if reparam:
        from relml.optim import pilot

        pilot.reparameterize(method_model, beta=1.0)
    data = _batch(args.batch, device)
    arms = {"base": Arm(base_model, base_opt, data, device),
            "method": Arm(method_model, method_opt, data, device)}
    train = {k: [] for k in arms}
    step = {k: [] for k in arms}
    for _ in range(args.repeats):  # take turns, so that background load hits both arms alike
        for k, arm in arms.items():
            train[k].append(arm.time_train(args.chunk))
        for k, arm in arms.items():
            step[k].append(arm.time_opt(args.chunk))
    med = {k: (min(train[k]), min(step[k])) for k in arms}
    mem = {}
    for k, arm in arms.items():
        arm.restore()
        mem[k] = (_state_bytes(arm.opt), _step_alloc_bytes(arm.opt) if device.type == "cpu" else None)
    n_params = sum(p.numel() for p in base_model.parameters())
    return {"model": model_name, "pair": pair, "params": n_params,
            "train_step_ms": {k: 1e3 * v[0] for k, v in med.items()},
            "opt_step_ms": {k: 1e3 * v[1] for k, v in med.items()},
            "train_ratio": med["method"][0] / med["base"][0], "opt_ratio": med["method"][1] / med["base"][1],
            "state_bytes": {k: v[0] for k, v in mem.items()},
            "step_alloc_bytes": {k: v[1] for k, v in mem.items()}}


def table(rows: list[dict], header: str) -> str:
    lines = [header, "",
             "| model | method vs base | whole step (ms) base → method | ratio "
             "| optimizer step (ms) base → method | ratio | state (KiB) base → method "
             "| allocated per step (KiB) base → method |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        alloc = r["step_alloc_bytes"]
        alloc_s = (f"{alloc['base'] / 1024:.0f} → {alloc['method'] / 1024:.0f}" if alloc["base"] is not None
                   else "n/a")
        lines.append(f"| {r['model']} | {r['pair']} | {r['train_step_ms']['base']:.3f} → "
                     f"{r['train_step_ms']['method']:.3f} | {r['train_ratio']:.2f}× | "
                     f"{r['opt_step_ms']['base']:.3f} → {r['opt_step_ms']['method']:.3f} | "
                     f"{r['opt_ratio']:.2f}× | {r['state_bytes']['base'] / 1024:.0f} → "
                     f"{r['state_bytes']['method'] / 1024:.0f} | {alloc_s} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed chunks per arm (fastest reported)")
    parser.add_argument("--chunk", type=int, default=10, help="steps per timed chunk")
    parser.add_argument("--batch", type=int, default=128, help="batch size")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="'cpu' or 'cuda'")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    runs = [("foreach", False)] + ([("fused (Triton) vs torch fused", True)] if device.type == "cuda" else [])
    rows, sections = [], []
    for label, fused in runs:
        part = []
        for model_name, make_model in models().items():
            for pair, (base_opt, method_opt, reparam) in pairs(fused).items():
                row = measure(model_name, make_model, pair, base_opt, method_opt, reparam, args, device)
                row["variant"] = label
                part.append(row)
                print(f"{label:10s} {model_name:24s} {pair:15s} whole step {row['train_ratio']:.2f}×, "
                      f"optimizer step {row['opt_ratio']:.2f}×", flush=True)
        rows += part
        title = f"### {label} ({device.type}, batch {args.batch}, {args.threads} thread(s))"
        sections.append(table(part, title))
    if device.type != "cuda":
        sections.append("No GPU was available for this run: the fused Triton steps were not timed (on the "
                        "CPU they run only in Triton's interpreter and are tested for equality with the "
                        "foreach path).")
    meta = {"torch": torch.__version__, "device": str(device), "threads": args.threads,
            "batch": args.batch, "repeats": args.repeats, "chunk": args.chunk, "machine": platform.platform(),
            "processor": platform.processor() or platform.machine()}
    text = "# Optimizer overhead: HAM, HORST, PILoT vs their base optimizers\n\n" + "\n\n".join(sections)
    text += "\n\n" + ", ".join(f"{k}: {v}" for k, v in meta.items()) + "\n"
    print("\n" + text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "optim.md").write_text(text)
    (RESULTS / "optim.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
