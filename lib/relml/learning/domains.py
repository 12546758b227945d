"""Domains made from the 8×8 digits, a pretrain-then-finetune helper, and the merging experiments.

Quick scale of "Bridging Domains through Subspace-Aware Model Merging" (Chaves et al., CVPR 2026,
arXiv 2603.05768): one MLP is pretrained on clean digits (the stand-in for CLIP's pretraining), and
one copy per domain is fine-tuned with the head frozen (the paper freezes CLIP's zero-shot text head)
on digits seen through a fixed shift: rotations, noise, contrast, blur, translation, zoom, inversion.
All transforms are torch ops on (n, 64) pixel rows (no torchvision). As the multi-task control, copies
are fine-tuned on the clean digits with their labels permuted: same inputs, different tasks.

Paper scale loads CLIP image-encoder checkpoints (pretrained and one per domain, as written by the
official fine-tuning script) and preprocessed test images from `data_root()/score_merging/`, and
evaluates with the frozen zero-shot head; absent files raise `relml.data.DataMissing`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from relml.data import TensorSplit, digits
from relml.data.files import data_root, require
from relml.learning import merging
from relml.models import MLP, EnsembleMLP
from relml.train import fit

SIDE = 8  # the digits are 8 × 8


# ---------------------------------------------------------------------------------------------
# image transforms on pixel rows x: (n, 64) in [0, 1]


def _images(x: Tensor) -> Tensor:
    if x.ndim != 2 or x.shape[1] != SIDE * SIDE:
        raise ValueError(f"x has shape {tuple(x.shape)}: pass digit rows (n, {SIDE * SIDE})")
    return x.reshape(-1, 1, SIDE, SIDE)


def affine(x: Tensor, degrees: float = 0.0, scale: float = 1.0, shift: tuple[float, float] = (0.0, 0.0)
           ) -> Tensor:
    """Rotate by `degrees` (counter-clockwise), zoom by `scale` (> 1 enlarges) and translate by `shift`
    pixels (right, down), bilinear, zeros outside. x: (n, 64) → (n, 64)."""
    if not (math.isfinite(degrees) and scale > 0 and all(math.isfinite(s) for s in shift)):
        raise ValueError(f"degrees={degrees}, scale={scale}, shift={shift}: pass finite values, scale > 0")
    img = _images(x)
    a = math.radians(degrees)
    # affine_grid maps output to input coordinates in [-1, 1]: the inverse of the wanted warp
    # (x right, y down): a counter-clockwise turn on screen maps an output point back by R(a)
    rot = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], dtype=x.dtype) / scale
    t = -rot @ torch.tensor([2 * shift[0] / SIDE, 2 * shift[1] / SIDE], dtype=x.dtype)
    theta = torch.cat([rot, t[:, None]], 1).to(x.device).expand(len(img), 2, 3)
    grid = F.affine_grid(theta, list(img.shape), align_corners=False)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False).flatten(1)


def blur(x: Tensor, sigma: float = 1.0) -> Tensor:
    """Gaussian blur with a 3 × 3 kernel of std `sigma` pixels. x: (n, 64) → (n, 64)."""
    if not sigma > 0:
        raise ValueError(f"sigma={sigma!r}: pass a positive blur width in pixels")
    g = torch.exp(-torch.arange(-1.0, 2.0, dtype=x.dtype) ** 2 / (2 * sigma**2))
    kernel = (g[:, None] * g[None, :] / g.sum() ** 2).to(x.device)
    return F.conv2d(_images(x), kernel[None, None], padding=1).flatten(1)


def contrast(x: Tensor, factor: float = 0.5, level: float = 0.5) -> Tensor:
    """level + factor · (x − level): factor < 1 washes the image out (grey background). x: (n, 64)."""
    if not math.isfinite(factor) or not math.isfinite(level):
        raise ValueError(f"factor={factor}, level={level}: pass finite numbers")
    _images(x)
    return level + factor * (x - level)


def noise(x: Tensor, std: float = 0.3, seed: int = 0) -> Tensor:
    """x plus Gaussian pixel noise of `std` (a fixed draw per seed), clipped to [0, 1]. x: (n, 64)."""
    if not std >= 0:
        raise ValueError(f"std={std!r}: pass a non-negative noise level")
    _images(x)
    g = torch.Generator().manual_seed(seed)
    return (x + std * torch.randn(x.shape, generator=g, dtype=x.dtype).to(x.device)).clamp(0, 1)


def invert(x: Tensor) -> Tensor:
    """1 − x: light digits on a dark background become dark on light. x: (n, 64)."""
    _images(x)
    return 1.0 - x


DOMAINS: dict[str, Callable[[Tensor, int], Tensor]] = {
    "clean": lambda x, s: x,
    "rotate_left": lambda x, s: affine(x, degrees=30),
    "rotate_right": lambda x, s: affine(x, degrees=-30),
    "zoom": lambda x, s: affine(x, scale=1.3),
    "shift": lambda x, s: affine(x, shift=(1.0, 1.0)),
    "noise": lambda x, s: noise(x, 0.3, seed=s),
    "contrast": lambda x, s: contrast(x, 0.4),
    "blur": lambda x, s: blur(x, 1.0),
    "invert": lambda x, s: invert(x),
}
"""Named digit domains: name → transform(x (n, 64), seed) → (n, 64)."""


def digit_domains(names: Sequence[str], split: TensorSplit | None = None, seed: int = 0
                  ) -> dict[str, TensorSplit]:
    """The digits seen through each named domain of `DOMAINS` (train and test sets transformed alike;
    the noise draw depends on `seed` and the domain). `split` defaults to `relml.data.digits()`."""
    unknown = [n for n in names if n not in DOMAINS]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"domains {list(names)}: pass distinct names among {', '.join(DOMAINS)}")
    split = digits() if split is None else split
    out = {}
    for i, name in enumerate(names):
        f = DOMAINS[name]
        out[name] = TensorSplit(f(split.x_train, 1000 * seed + 2 * i), split.y_train,
                                f(split.x_test, 1000 * seed + 2 * i + 1), split.y_test)
    return out


def label_permutation_tasks(n_tasks: int, split: TensorSplit | None = None, seed: int = 0,
                            classes: int = 10) -> list[TensorSplit]:
    """The multi-task control: the same (clean) inputs, task t predicting π_t(y) for a random
    derangement π_t of the classes (no class keeps its label), so the tasks share no input-output map."""
    if not isinstance(n_tasks, int) or n_tasks < 1:
        raise ValueError(f"n_tasks={n_tasks!r}: pass a positive number of tasks")
    split = digits() if split is None else split
    g = torch.Generator().manual_seed(seed)
    tasks = []
    while len(tasks) < n_tasks:
        perm = torch.randperm(classes, generator=g)
        if bool((perm == torch.arange(classes)).any()):
            continue
        perm = perm.to(split.y_train.device)
        tasks.append(TensorSplit(split.x_train, perm[split.y_train], split.x_test, perm[split.y_test]))
    return tasks


# ---------------------------------------------------------------------------------------------
# pretrain, then fine-tune one copy per domain


def pretrain(sizes: Sequence[int], data: tuple[Tensor, Tensor], *, epochs: int, lr: float = 1e-3,
             batch_size: int = 64, seed: int = 0) -> MLP:
    """An `MLP` of widths `sizes` trained with Adam on `data` (x (n, d), y (n,)): the base model θ_0."""
    model = MLP(sizes, generator=torch.Generator().manual_seed(seed)).to(data[0].device)
    fit(model, data, torch.optim.Adam(model.parameters(), lr=lr), epochs=epochs, batch_size=batch_size,
        seed=seed, progress=False, desc="pretrain")
    return model


class _PerMember(nn.Module):
    """An `EnsembleMLP` fed one input per member: x (batch, R, d) → logits (R, batch, classes)."""

    def __init__(self, ensemble: EnsembleMLP) -> None:
        super().__init__()
        self.ensemble = ensemble

    def forward(self, x: Tensor) -> Tensor:
        return self.ensemble(x.transpose(0, 1))


def _members_loss(out: Tensor, y: Tensor) -> Tensor:
    """Σ_r mean_b CE(out[r, b], y[b, r]): out (R, batch, C), y (batch, R); member r's gradient is its
    own loss's gradient, so the stacked run equals R separate runs on the same batches."""
    R, B, C = out.shape
    return F.cross_entropy(out.reshape(R * B, C), y.T.reshape(R * B), reduction="sum") / B


def finetune_experts(model: MLP, datasets: Sequence[tuple[Tensor, Tensor]], *, epochs: int,
                     lr: float = 1e-3, batch_size: int = 64, seed: int = 0, freeze_head: bool = True
                     ) -> list[dict[str, Tensor]]:
    """Fine-tune one copy of `model` per data set (x (n, d), y (n,), equal n) with Adam, the last layer
    frozen when `freeze_head` (the paper freezes CLIP's zero-shot text head). The copies train stacked
    in one `EnsembleMLP` (one batched matmul per layer; Adam is elementwise, so this equals separate
    runs over the same batch order). Returns the fine-tuned state_dicts; `model` is left untouched."""
    if not datasets or len({len(x) for x, _ in datasets}) != 1:
        raise ValueError("pass a non-empty list of (x, y) data sets with the same number of samples")
    ens = EnsembleMLP.from_mlps([model] * len(datasets)).to(datasets[0][0].device)
    head = {id(ens.weights[-1]), id(ens.biases[-1])} if freeze_head else set()
    params = [p for p in ens.parameters() if id(p) not in head]
    x = torch.stack([d[0] for d in datasets], 1)  # (n, R, d)
    y = torch.stack([d[1] for d in datasets], 1)  # (n, R)
    fit(_PerMember(ens), (x, y), torch.optim.Adam(params, lr=lr), epochs=epochs, loss_fn=_members_loss,
        batch_size=batch_size, seed=seed, progress=False, desc="finetune")
    device = datasets[0][0].device
    return [{k: v.detach().to(device, copy=True) for k, v in ens.member(r).state_dict().items()}
            for r in range(len(datasets))]


@torch.no_grad()
def accuracy(model: nn.Module, state_dict: Mapping[str, Tensor], data: tuple[Tensor, Tensor]) -> float:
    """Accuracy of `model`'s architecture with parameters `state_dict` on (x (n, d), y (n,));
    `model` itself is left untouched (a copy is loaded)."""
    net = copy.deepcopy(model).eval()
    net.load_state_dict(state_dict)
    return float((net(data[0]).argmax(-1) == data[1]).float().mean())


# ---------------------------------------------------------------------------------------------
# the experiments


@dataclass
class MergingRun:
    """One run of both experiments (one seed).

    held_out[name] (D,): accuracy on each held-out domain of the model merged from the other D − 1
    experts; pretrained (D,): θ_0's and experts (D,): each domain's own expert's accuracy there (the
    upper bound); sar_domain (D, D) and sar_multitask (K, K): pairwise subspace alignment ratios.
    `theta0`, `expert_states` and `evaluate(state_dict, d)` let other merges be scored afterwards.
    """

    domains: list[str]
    held_out: dict[str, np.ndarray]
    pretrained: np.ndarray
    experts: np.ndarray
    sar_domain: np.ndarray
    sar_multitask: np.ndarray
    theta0: dict[str, Tensor] = field(default_factory=dict, repr=False)
    expert_states: list[dict[str, Tensor]] = field(default_factory=list, repr=False)
    evaluate: Callable[[dict[str, Tensor], int], float] | None = field(default=None, repr=False)
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def conflict_domain(self) -> float:
        """Mean off-diagonal SAR of the domain experts (higher: more overlap, stronger conflict)."""
        return merging.mean_off_diagonal(self.sar_domain)

    @property
    def conflict_multitask(self) -> float:
        """Mean off-diagonal SAR of the multi-task experts."""
        return merging.mean_off_diagonal(self.sar_multitask)

    def mean_held_out(self) -> dict[str, float]:
        """Each method's held-out accuracy averaged over the domains."""
        return {m: float(a.mean()) for m, a in self.held_out.items()}

    def rerun(self, merger: merging.Merger, coef: float = 1.0) -> np.ndarray:
        """Held-out accuracy (D,) of another merge function on this run's experts."""
        if self.evaluate is None:
            raise ValueError("this run kept no evaluator: rerun needs a run made by an experiment")
        return merging.leave_one_out(self.theta0, self.expert_states, self.evaluate, {"m": merger},
                                     coef)["m"]


def digit_experiment(domains: Sequence[str], *, seed: int = 0, hidden: Sequence[int] = (128, 128),
                     pretrain_samples: int = 200, pretrain_epochs: int = 20, finetune_epochs: int = 5,
                     lr: float = 1e-3, batch_size: int = 64, n_multitask: int = 4, energy: float = 0.97,
                     coef: float = 1.0, methods: Mapping[str, merging.Merger] | None = None,
                     device: torch.device | str = "cpu") -> MergingRun:
    """Quick-scale protocol: pretrain an MLP on `pretrain_samples` clean digits (an imperfect base, like
    CLIP zero-shot), fine-tune one expert per domain on its full training set (head frozen), merge
    the experts leave-one-domain-out with each of `methods` (default `merging.merge_suite()`) at
    scaling `coef`, and measure the SAR of the domain experts and of `n_multitask` label-permutation
    experts fine-tuned the same way. Everything runs on `device`."""
    if len(domains) < 3:
        raise ValueError(f"domains={list(domains)}: pass at least 3 so that 2 remain to merge")
    split = digits(device=device)
    if not 10 <= pretrain_samples <= len(split.x_train):
        raise ValueError(f"pretrain_samples={pretrain_samples!r}: pass 10..{len(split.x_train)}")
    if n_multitask < 2:
        raise ValueError(f"n_multitask={n_multitask!r}: pass at least 2 tasks to compare")
    sizes = [SIDE * SIDE, *hidden, 10]
    n = pretrain_samples
    base = pretrain(sizes, (split.x_train[:n], split.y_train[:n]), epochs=pretrain_epochs, lr=lr,
                    batch_size=batch_size, seed=seed)
    theta0 = {k: v.detach().clone() for k, v in base.state_dict().items()}
    data = digit_domains(domains, split, seed)
    tasks = label_permutation_tasks(n_multitask, split, seed)
    # domain and multi-task experts fine-tune together (the same batches; each its own data)
    states = finetune_experts(base, [d.train for d in data.values()] + [t.train for t in tasks],
                              epochs=finetune_epochs, lr=lr, batch_size=batch_size, seed=seed + 1)
    experts, multitask = states[: len(domains)], states[len(domains):]
    tests = [d.test for d in data.values()]

    def evaluate(sd: dict[str, Tensor], d: int) -> float:
        return accuracy(base, sd, tests[d])

    held = merging.leave_one_out(theta0, experts, evaluate, methods or merging.merge_suite(), coef)
    sar_d = merging.subspace_alignment([merging.task_vector(e, theta0) for e in experts], energy)
    sar_m = merging.subspace_alignment([merging.task_vector(e, theta0) for e in multitask], energy)
    return MergingRun(
        domains=list(domains), held_out=held,
        pretrained=np.array([evaluate(theta0, d) for d in range(len(tests))]),
        experts=np.array([evaluate(e, d) for d, e in enumerate(experts)]),
        sar_domain=sar_d.cpu().numpy(), sar_multitask=sar_m.cpu().numpy(),
        theta0=theta0, expert_states=experts, evaluate=evaluate,
        extra={"multitask_accuracy": float(np.mean([accuracy(base, e, t.test)
                                                    for e, t in zip(multitask, tasks, strict=True)]))},
    )


# ---------------------------------------------------------------------------------------------
# paper scale: CLIP image encoders fine-tuned per domain by the official code

PAPER_DATASETS: dict[str, tuple[str, ...]] = {
    "PACS": ("art_painting", "cartoon", "photo", "sketch"),
    "OfficeHome": ("Art", "Clipart", "Product", "Real_World"),
    "DomainNet": ("clipart", "infograph", "painting", "quickdraw", "real", "sketch"),
    "TerraIncognita": ("location_100", "location_38", "location_43", "location_46"),
    "ImageNetR": (), "NICOpp": (), "FedISIC": (), "RetinaDomains": (),
}
"""The paper's eight benchmarks; domains listed where fixed (the others: any names under the folder)."""
PAPER_MODELS = ("ViT-B-32", "ViT-B-16", "ViT-L-14")
MULTITASK_8 = ("Cars", "DTD", "EuroSAT", "GTSRB", "MNIST", "RESISC45", "SUN397", "SVHN")


def paper_folder(model: str, dataset: str) -> Path:
    """data_root()/score_merging/<model>/<dataset>/."""
    return data_root() / "score_merging" / model / dataset


def load_clip_experts(model: str, dataset: str, domains: Sequence[str] | None = None
                      ) -> tuple[dict[str, Tensor], list[dict[str, Tensor]], list[str]]:
    """Paper-scale checkpoints: θ_0 and one fine-tuned CLIP image encoder per domain, as state_dicts.

    Expects in `paper_folder(model, dataset)`: zeroshot.pt and <domain>.pt for every domain, each a
    state_dict of the open_clip visual encoder (`torch.save(model.visual.state_dict(), ...)` after the
    official `finetune_domain_splitted.py`). Raises DataMissing naming the absent files.
    """
    if model not in PAPER_MODELS:
        raise ValueError(f"model={model!r}: pass one of {', '.join(PAPER_MODELS)}")
    if dataset not in PAPER_DATASETS:
        raise ValueError(f"dataset={dataset!r}: pass one of {', '.join(PAPER_DATASETS)}")
    domains = list(domains or PAPER_DATASETS[dataset])
    folder = paper_folder(model, dataset)
    if not domains:
        domains = sorted(p.stem for p in folder.glob("*.pt") if p.stem not in ("zeroshot", "head"))
        domains = [d for d in domains if not d.endswith("_test")]
    files = ["zeroshot.pt", "head.pt"] + [f"{d}.pt" for d in domains] + [f"{d}_test.pt" for d in domains]
    require(folder, files if domains else [*files, "<domain>.pt"],
            f"fine-tune {model} per domain of {dataset} with VirtualSpaceman/score_cvpr26 "
            "(finetune_domain_splitted.py), save each visual encoder's state_dict as <domain>.pt, the "
            "pretrained one as zeroshot.pt, the zero-shot text head (classes, dim) as head.pt and each "
            "domain's preprocessed test set (x (n, 3, H, W), y (n,)) as <domain>_test.pt")
    load = lambda name: torch.load(folder / name, map_location="cpu", weights_only=True)  # noqa: E731
    return load("zeroshot.pt"), [load(f"{d}.pt") for d in domains], domains


def load_clip_multitask(model: str) -> list[dict[str, Tensor]]:
    """θ_t − θ_0 for the eight multi-task experts of the SAR comparison (Cars … SVHN), from
    data_root()/score_merging/<model>/8datasets/<task>.pt and zeroshot.pt."""
    folder = data_root() / "score_merging" / model / "8datasets"
    require(folder, ["zeroshot.pt", *[f"{t}.pt" for t in MULTITASK_8]],
            f"fine-tune {model} on the eight task-arithmetic data sets (official finetune_8datasets.py) "
            "and save each visual encoder's state_dict there")
    theta0 = torch.load(folder / "zeroshot.pt", map_location="cpu", weights_only=True)
    return [merging.task_vector(torch.load(folder / f"{t}.pt", map_location="cpu", weights_only=True),
                                theta0) for t in MULTITASK_8]


def clip_experiment(model: str, dataset: str, domains: Sequence[str] | None = None, *,
                    energy: float = 0.97, coef: float = 1.0, keep: float = 0.2, threshold: float = 1.96,
                    batch_size: int = 128, device: torch.device | str = "cpu") -> MergingRun:
    """Paper-scale protocol (CLIP ViT, leave-one-domain-out, λ = 1, SAR on the visual 2-D weights
    without text_projection). Needs `open_clip_torch` and the files of `load_clip_experts`."""
    theta0, experts, domains = load_clip_experts(model, dataset, domains)  # DataMissing first
    try:
        import open_clip
    except ImportError as err:
        raise ImportError("paper scale builds CLIP encoders with open_clip: pip install open_clip_torch"
                          ) from err
    folder = paper_folder(model, dataset)
    head = torch.load(folder / "head.pt", map_location="cpu", weights_only=True).to(device)
    tests = [torch.load(folder / f"{d}_test.pt", map_location="cpu", weights_only=True) for d in domains]
    encoder = open_clip.create_model(model, pretrained=None).visual.to(device).eval()

    @torch.no_grad()
    def evaluate(sd: dict[str, Tensor], i: int) -> float:
        encoder.load_state_dict(sd)
        x, y = tests[i]
        correct = 0
        for j in range(0, len(x), batch_size):
            feats = F.normalize(encoder(x[j : j + batch_size].to(device)), dim=-1)
            correct += int(((feats @ head.T).argmax(-1).cpu() == y[j : j + batch_size]).sum())
        return correct / len(x)

    # the official settings: ς σ / T on natural images, ς σ on the medical sets
    methods = merging.merge_suite(keep=keep, threshold=threshold, exclude=("text_projection",),
                                  per_task=dataset not in ("FedISIC", "RetinaDomains"))
    held = merging.leave_one_out(theta0, experts, evaluate, methods, coef)
    taus = [merging.task_vector(e, theta0) for e in experts]
    keys = [k for k, v in taus[0].items() if v.ndim == 2 and "text_projection" not in k]
    return MergingRun(
        domains=domains, held_out=held,
        pretrained=np.array([evaluate(theta0, i) for i in range(len(domains))]),
        experts=np.array([evaluate(e, i) for i, e in enumerate(experts)]),
        sar_domain=merging.subspace_alignment(taus, energy, keys).cpu().numpy(),
        sar_multitask=merging.subspace_alignment(load_clip_multitask(model), energy, keys).cpu().numpy(),
        theta0=theta0, expert_states=experts, evaluate=evaluate,
    )


# ---------------------------------------------------------------------------------------------
# figures

PAPER_METHODS = ("task_arithmetic", "ties", "tsv", "score")
COLORS = {"task_arithmetic": "#1b6ca8", "ties": "#e4572e", "tsv": "#29a36a", "score": "#f3a712",
          "average": "#5c5c5c", "score_diagonal": "#7d5ba6", "score_full": "#17becf"}
LABELS = {"task_arithmetic": "Task Arithmetic", "ties": "TIES", "tsv": "TSV", "score": "SCORE",
          "average": "weight average", "score_diagonal": "SCORE diagonal only",
          "score_full": "SCORE full (no trim)"}


def plot_alignment(runs: Sequence[MergingRun]) -> plt.Figure:
    """SAR heatmaps of the first run's domain and multi-task experts, and each run's mean
    off-diagonal SAR (the conflict) for both settings."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), gridspec_kw={"width_ratios": [1, 1, 0.8]})
    r = runs[0]
    names = {"domain experts": (r.sar_domain, r.domains),
             "multi-task experts": (r.sar_multitask, [f"task {i}" for i in range(len(r.sar_multitask))])}
    for ax, (title, (mat, ticks)) in zip(axes[:2], names.items(), strict=True):
        im = ax.imshow(mat, vmin=0.4, vmax=1.0, cmap="magma")
        ax.set_xticks(range(len(ticks)), ticks, rotation=45, ha="right")
        ax.set_yticks(range(len(ticks)), ticks)
        ax.grid(False)
        for (i, j), v in np.ndenumerate(mat):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                    color="black" if v > 0.8 else "white")
        ax.set_title(f"SAR, {title}")
        ax.set_xlabel("subspace of expert j")
        ax.set_ylabel("update of expert i")
    fig.colorbar(im, ax=axes[1], fraction=0.046)
    ax = axes[2]
    vals = np.array([[x.conflict_domain, x.conflict_multitask] for x in runs])
    ax.bar([0, 1], vals.mean(0), color=["#e4572e", "#1b6ca8"], alpha=0.6)
    for v in vals:
        ax.plot([0, 1], v, "o-", color="0.3", ms=3, lw=0.6)
    ax.set_xticks([0, 1], ["domain", "multi-task"])
    ax.set_ylabel("mean off-diagonal SAR")
    ax.set_ylim(0, 1)
    ax.set_title(f"conflict, {len(runs)} seed(s)")
    fig.tight_layout()
    return fig


def plot_held_out(runs: Sequence[MergingRun], methods: Sequence[str] = PAPER_METHODS,
                  title: str = "merging the other domains' experts") -> plt.Figure:
    """Leave-one-domain-out accuracy: per held-out domain (mean over runs) with θ_0 and the domain's
    own expert as references, and the average over domains per run."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [2, 1]})
    doms = runs[0].domains
    x = np.arange(len(doms))
    w = 0.8 / len(methods)
    for i, m in enumerate(methods):
        acc = np.mean([r.held_out[m] for r in runs], 0)
        ax.bar(x + (i - (len(methods) - 1) / 2) * w, acc, w, label=LABELS.get(m, m), color=COLORS.get(m))
    ax.plot(x, np.mean([r.pretrained for r in runs], 0), "k_", ms=22, mew=2, label="pretrained θ₀")
    ax.plot(x, np.mean([r.experts for r in runs], 0), "_", color="0.5", ms=22, mew=2,
            label="the domain's own expert")
    ax.set_xticks(x, doms)
    ax.set_ylim(0, 1.25)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("held-out accuracy")
    ax.set_title(title)
    ax.legend(ncol=3, loc="upper center")
    means = np.array([[r.mean_held_out()[m] for m in methods] for r in runs])
    for i in range(len(methods)):
        bx.bar(i, means[:, i].mean(), color=COLORS.get(methods[i]), alpha=0.8)
        bx.plot(np.full(len(runs), i), means[:, i], "o", color="0.25", ms=3)
    bx.axhline(np.mean([r.pretrained.mean() for r in runs]), color="k", ls="--", lw=1, label="θ₀")
    if "average" in runs[0].held_out:
        bx.axhline(np.mean([r.mean_held_out()["average"] for r in runs]), color="C5", ls=":", lw=1.2,
                   label="weight average (λ = 1/T)")
    bx.set_xticks(range(len(methods)), [LABELS.get(m, m) for m in methods], rotation=20)
    lo = means.min() - 0.05
    bx.set_ylim(max(0.0, lo), min(1.0, means.max() + 0.05))
    bx.set_title(f"mean over domains, {len(runs)} seed(s)")
    bx.legend(loc="lower right")
    fig.tight_layout()
    return fig


def plot_rerun(run: MergingRun, merger: merging.Merger, label: str, baseline: str = "tsv",
               coef: float = 1.0) -> plt.Figure:
    """Held-out accuracy of another merge function on `run`'s experts, next to `baseline` and θ_0."""
    acc = run.rerun(merger, coef)
    fig, ax = plt.subplots(figsize=(7, 3.4))
    x = np.arange(len(run.domains))
    ax.bar(x - 0.2, run.held_out[baseline], 0.4, color=COLORS.get(baseline),
           label=f"{LABELS.get(baseline, baseline)}: mean {run.held_out[baseline].mean():.3f}")
    ax.bar(x + 0.2, acc, 0.4, color=COLORS["score"], label=f"{label}: mean {acc.mean():.3f}")
    ax.plot(x, run.pretrained, "k_", ms=22, mew=2, label="pretrained θ₀")
    ax.set_xticks(x, run.domains)
    ax.set_ylim(0, 1)
    ax.set_ylabel("held-out accuracy")
    ax.legend(loc="lower right")
    return fig
