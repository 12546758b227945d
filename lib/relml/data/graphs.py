"""Graph data sets as PyG `Data`: Planetoid (Cora, ...), the heterophilous benchmark, synthetic graphs.

Every loader returns a `torch_geometric.data.Data` with
    x (n, d) float32, y (n,) int64, edge_index (2, E) int64 (undirected: both directions, coalesced,
    no self loops), train_mask / val_mask / test_mask (n,) bool.

Real sets: Cora and the heterophilous sets cornell and tolokers ship with the repository (data/, see
data/README.md). Others are read from `data_root()` (data/cache/ or $RELML_DATA): Planetoid raw files in
`<root>/planetoid/<name>/raw/`, heterophilous npz files in `<root>/heterophilous/<name>.npz`; when absent
they are downloaded there (through PyG's `download_url`) if a network exists, else `DataMissing` names the
files and where to put them.

torch_geometric is imported lazily (inside the functions): importing it costs seconds, and `relml.data`
is imported by notebooks that never touch a graph.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from relml.data.files import REPO, data_root, require

if TYPE_CHECKING:
    from torch_geometric.data import Data

VENDORED = REPO / "data"
PLANETOID = ("cora", "citeseer", "pubmed")
PLANETOID_PARTS = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
PLANETOID_URL = "https://github.com/kimiyoung/planetoid/raw/master/data"
HETEROPHILOUS_URL = "https://github.com/yandex-research/heterophilous-graphs/raw/main/data"
HETEROPHILOUS_KEYS = ("node_features", "node_labels", "edges", "train_masks", "val_masks", "test_masks")
DOWNLOAD_TIMEOUT_S = 30.0


# ---------------------------------------------------------------------------------------------
# helpers shared by the loaders


def undirected(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Both directions of every edge, self loops removed, sorted and deduplicated: (2, E) int64."""
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must have shape (2, E), got {tuple(edge_index.shape)}")
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= num_nodes):
        raise ValueError(f"edge_index must hold node ids in [0, {num_nodes}), "
                         f"got range [{int(edge_index.min())}, {int(edge_index.max())}]")
    ei = edge_index.long()
    ei = torch.cat([ei, ei.flip(0)], dim=1)
    ei = ei[:, ei[0] != ei[1]]
    key = torch.unique(ei[0] * num_nodes + ei[1])  # sorted by (row, col)
    return torch.stack([key // num_nodes, key % num_nodes])


def row_normalize(x: Tensor) -> Tensor:
    """Each row divided by its sum (rows summing to 0 stay 0), as PyG's `NormalizeFeatures`: (n, d)."""
    s = x.sum(dim=1, keepdim=True)
    return x / torch.where(s == 0, torch.ones_like(s), s)


def random_split_masks(n: int, fractions: tuple[float, float, float] = (0.5, 0.25, 0.25), seed: int = 0
                       ) -> tuple[Tensor, Tensor, Tensor]:
    """Random disjoint train/val/test masks (n,) bool over all n nodes with the given fractions."""
    if len(fractions) != 3 or min(fractions) < 0 or sum(fractions) > 1 + 1e-9:
        raise ValueError(f"fractions must be three numbers >= 0 summing to <= 1, got {fractions}")
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    n_train, n_val = round(fractions[0] * n), round(fractions[1] * n)
    n_test = min(round(fractions[2] * n), n - n_train - n_val)
    masks = []
    for lo, hi in ((0, n_train), (n_train, n_train + n_val), (n_train + n_val, n_train + n_val + n_test)):
        m = torch.zeros(n, dtype=torch.bool)
        m[perm[lo:hi]] = True
        masks.append(m)
    return masks[0], masks[1], masks[2]


def _graph(x: Tensor, y: Tensor, edge_index: Tensor, masks: tuple[Tensor, Tensor, Tensor]) -> Data:
    from torch_geometric.data import Data

    n = x.size(0)
    return Data(x=x.float(), y=y.long(), edge_index=undirected(edge_index, n), train_mask=masks[0],
                val_mask=masks[1], test_mask=masks[2], num_nodes=n)


def _download(url: str, folder: Path) -> None:
    """Fetch `url` into `folder` with PyG's downloader, giving up after DOWNLOAD_TIMEOUT_S of silence."""
    from torch_geometric.data import download_url

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        download_url(url, str(folder), log=False)
    finally:
        socket.setdefaulttimeout(old)


def _fetch(folder: Path, files: list[str], base_url: str, download: bool, how: str) -> None:
    """Make sure `files` are in `folder`: download the missing ones when allowed, else DataMissing."""
    missing = [f for f in files if not (folder / f).is_file()]
    if missing and download:
        try:
            for f in missing:
                _download(f"{base_url}/{f}", folder)
        except OSError as err:  # URLError, timeouts, refused connections: no usable network
            for f in missing:  # no half-downloaded set left behind
                if (folder / f).is_file() and (folder / f).stat().st_size == 0:
                    (folder / f).unlink()
            require(folder, files, f"{how} (download failed: {err})")
    require(folder, files, how)


def _dataset_name(name: str) -> str:
    key = name.strip().lower().replace("-", "_")
    if not re.fullmatch(r"[a-z0-9_.]+", key):
        raise ValueError(f"data set name must be letters, digits, '_' or '-', got {name!r}")
    return key


# ---------------------------------------------------------------------------------------------
# real data sets


def load_planetoid(name: str = "cora", root: str | Path | None = None, *, normalize_features: bool = False,
                   download: bool = True) -> Data:
    """A Planetoid citation graph (Yang et al. 2016) with its public split (20 per class / 500 / 1000).

    Reads the raw files `ind.<name>.{x,tx,allx,y,ty,ally,graph,test.index}` (Python pickles, latin-1)
    from `root/<name>/raw/` when `root` is given; else Cora from the copy in data/planetoid/, and any
    set from `data_root()/planetoid/<name>/raw/`, downloading there when absent and `download` is set.
    `normalize_features` divides each feature row by its sum (PyG's `NormalizeFeatures`, as the GAT
    papers do). Cora: 2708 nodes, 5278 undirected edges, 1433 features, 7 classes.
    """
    key = _dataset_name(name)
    if key not in PLANETOID:
        raise ValueError(f"unknown Planetoid set {name!r}; use one of {', '.join(PLANETOID)}")
    files = [f"ind.{key}.{part}" for part in PLANETOID_PARTS]
    if root is not None:
        folder = Path(root) / key / "raw"
    elif all((VENDORED / "planetoid" / key / "raw" / f).is_file() for f in files):
        folder = VENDORED / "planetoid" / key / "raw"
    else:
        folder = data_root() / "planetoid" / key / "raw"
    _fetch(folder, files, PLANETOID_URL, download and root is None,
           f"get them from {PLANETOID_URL} into {folder}")
    from torch_geometric.io.planetoid import read_planetoid_data

    data = read_planetoid_data(str(folder), key)
    x = row_normalize(data.x) if normalize_features else data.x
    return _graph(x, data.y, data.edge_index, (data.train_mask, data.val_mask, data.test_mask))


def load_heterophilous(name: str, split: int = 0, root: str | Path | None = None, *,
                       normalize_features: bool = False, download: bool = True) -> Data:
    """A set of the heterophilous-graph benchmark (Platonov et al. 2023, ICLR) with its split `split`.

    The npz format holds node_features (n, d), node_labels (n,), edges (E, 2) directed pairs (made
    undirected here) and train/val/test_masks (10, n). Looks in `root/<name>.npz` when `root` is given,
    else data/heterophilous/ (cornell, tolokers ship with the repository), else
    `data_root()/heterophilous/<name>.npz`, downloading there when absent and `download` is set. Names
    as in the benchmark ("roman_empire" or "roman-empire", "amazon_ratings", "minesweeper", "tolokers",
    "questions", "chameleon_filtered", "cornell", ...). The sets with two classes (tolokers, questions,
    minesweeper) are scored by ROC-AUC in the benchmark.
    """
    key = _dataset_name(name)
    file = f"{key}.npz"
    if root is not None:
        folder = Path(root)
    elif (VENDORED / "heterophilous" / file).is_file():
        folder = VENDORED / "heterophilous"
    else:
        folder = data_root() / "heterophilous"
    _fetch(folder, [file], HETEROPHILOUS_URL, download and root is None,
           f"get it from {HETEROPHILOUS_URL}/{file} into {folder}")
    with np.load(folder / file) as npz:
        absent = [k for k in HETEROPHILOUS_KEYS if k not in npz.files]
        if absent:
            raise ValueError(f"{folder / file} lacks {', '.join(absent)}: not a heterophilous-benchmark npz")
        arrays = {k: npz[k] for k in HETEROPHILOUS_KEYS}
    splits = arrays["train_masks"].shape[0]
    if not (isinstance(split, (int, np.integer)) and 0 <= split < splits):
        raise ValueError(f"split must be an integer in [0, {splits}) for {key}, got {split!r}")
    x = torch.from_numpy(arrays["node_features"]).float()
    if normalize_features:
        x = row_normalize(x)
    masks = tuple(torch.from_numpy(arrays[k][split]).bool() for k in ("train_masks", "val_masks",
                                                                      "test_masks"))
    edge_index = torch.from_numpy(arrays["edges"]).long().t()
    return _graph(x, torch.from_numpy(arrays["node_labels"]), edge_index, masks)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# synthetic graphs


def _pairs_in_block(count: int, size_a: int, size_b: int | None, g: torch.Generator) -> Tensor:
    """`count` distinct node pairs drawn uniformly: within one block of size_a nodes (i < j) when
    size_b is None, else between two blocks. Returns (2, count) local indices."""
    total = size_a * (size_a - 1) // 2 if size_b is None else size_a * size_b
    chosen = torch.empty(0, dtype=torch.long)
    while chosen.numel() < count:  # rejection: draw with replacement, keep distinct; a few rounds
        extra = torch.randint(total, (2 * (count - chosen.numel()) + 8,), generator=g)
        merged = torch.cat([chosen, extra])
        uniq, first = np.unique(merged.numpy(), return_index=True)
        chosen = torch.from_numpy(uniq[np.argsort(first)][:count])  # keep draw order: no bias to small ids
    if size_b is not None:
        return torch.stack([chosen // size_b, chosen % size_b])
    # linear index m over pairs (i, j), j < i, row by row: i = floor((1 + sqrt(1 + 8m)) / 2)
    i = torch.floor((1 + torch.sqrt(1 + 8 * chosen.double())) / 2).long()
    i = i - (i * (i - 1) // 2 > chosen).long()  # guards against float rounding at a row boundary
    i = i + ((i + 1) * i // 2 <= chosen).long()
    j = chosen - i * (i - 1) // 2
    return torch.stack([j, i])


def sbm_edges(block_sizes: list[int], probs: Tensor, seed: int = 0) -> Tensor:
    """Edges of an undirected stochastic block model: each pair (i, j) in blocks (a, b) is linked with
    probability probs[a, b], independently. Nodes are numbered block by block. Returns (2, E), coalesced.

    Exact and O(E): per block pair, the edge count is Binomial(#pairs, p) and the edges a uniform subset.
    """
    k = len(block_sizes)
    if k < 1 or min(block_sizes) < 1:
        raise ValueError(f"block_sizes must be a non-empty list of positive integers, got {block_sizes}")
    probs = torch.as_tensor(probs, dtype=torch.float64)
    if probs.shape != (k, k) or not torch.allclose(probs, probs.T) or probs.isnan().any() \
            or probs.min() < 0 or probs.max() > 1:
        raise ValueError(f"probs must be a symmetric ({k}, {k}) matrix of probabilities in [0, 1]")
    g = torch.Generator().manual_seed(seed)
    offsets = np.concatenate([[0], np.cumsum(block_sizes)])
    parts = []
    for a in range(k):  # loop over block pairs only (few); the edges themselves are drawn vectorized
        for b in range(a, k):
            size_b = None if a == b else block_sizes[b]
            total = block_sizes[a] * (block_sizes[a] - 1) // 2 if a == b else block_sizes[a] * block_sizes[b]
            if total == 0 or probs[a, b] == 0:
                continue
            count = int(torch.binomial(torch.tensor([float(total)], dtype=torch.float64),
                                       probs[a, b].reshape(1), generator=g).item())
            if count:
                local = _pairs_in_block(count, block_sizes[a], size_b, g)
                parts.append(torch.stack([local[0] + int(offsets[a]), local[1] + int(offsets[b])]))
    n = int(offsets[-1])
    edges = torch.cat(parts, dim=1) if parts else torch.empty(2, 0, dtype=torch.long)
    return undirected(edges, n)


def _check_graph_args(n: int, classes: int, feature_dim: int, probs: tuple[float, ...]) -> None:
    if not (isinstance(n, int) and isinstance(classes, int) and 1 <= classes <= n):
        raise ValueError(f"need integers 1 <= classes <= n, got n={n}, classes={classes}")
    if not (isinstance(feature_dim, int) and feature_dim >= 1):
        raise ValueError(f"feature_dim must be a positive integer, got {feature_dim}")
    if any(not (0.0 <= p <= 1.0) for p in probs):  # also rejects NaN
        raise ValueError(f"edge probabilities must lie in [0, 1], got {probs}")


def _blocks(n: int, classes: int) -> tuple[list[int], Tensor]:
    sizes = [n // classes + (1 if c < n % classes else 0) for c in range(classes)]
    return sizes, torch.repeat_interleave(torch.arange(classes), torch.tensor(sizes))


def erdos_renyi_graph(n: int, p: float, feature_dim: int = 2, classes: int = 2, seed: int = 0,
                      split: tuple[float, float, float] = (0.5, 0.25, 0.25)) -> Data:
    """G(n, p) with standard Gaussian features x (n, feature_dim) and uniformly random labels in
    [0, classes); random train/val/test masks with fractions `split` (GATE's synthetic tasks, 2:1:1).
    Replace `y` to define a task (e.g. labels from the node's own features or its neighbours')."""
    _check_graph_args(n, classes, feature_dim, (p,))
    edge_index = sbm_edges([n], torch.tensor([[p]]), seed)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(n, feature_dim, generator=g)
    y = torch.randint(classes, (n,), generator=g)
    return _graph(x, y, edge_index, random_split_masks(n, split, seed + 2))


def sbm(n: int, classes: int, p_in: float, p_out: float, feature_dim: int = 16, seed: int = 0,
        split: tuple[float, float, float] = (0.5, 0.25, 0.25)) -> Data:
    """Stochastic block model: `classes` near-equal blocks, edge probability p_in within a block and
    p_out across; label = block; features are pure standard-Gaussian noise (the graph alone informs)."""
    _check_graph_args(n, classes, feature_dim, (p_in, p_out))
    sizes, y = _blocks(n, classes)
    probs = torch.full((classes, classes), p_out, dtype=torch.float64).fill_diagonal_(p_in)
    edge_index = sbm_edges(sizes, probs, seed)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(n, feature_dim, generator=g)
    return _graph(x, y, edge_index, random_split_masks(n, split, seed + 2))


def contextual_sbm(n: int, classes: int, p_in: float, p_out: float, feature_dim: int = 16,
                   separation: float = 1.0, seed: int = 0,
                   split: tuple[float, float, float] = (0.5, 0.25, 0.25)) -> Data:
    """Contextual SBM (Deshpande et al. 2018): an SBM whose node features are x_i = μ_{y_i} + N(0, I).

    The class means μ_c (feature_dim,) are `separation` apart pairwise: orthonormal directions scaled by
    separation / √2 (feature_dim >= classes), else random directions of that norm. separation = 0 gives
    an SBM with uninformative features; p_in = p_out a Gaussian mixture on a random graph.
    """
    _check_graph_args(n, classes, feature_dim, (p_in, p_out))
    if not separation >= 0:
        raise ValueError(f"separation must be >= 0, got {separation}")
    sizes, y = _blocks(n, classes)
    probs = torch.full((classes, classes), p_out, dtype=torch.float64).fill_diagonal_(p_in)
    edge_index = sbm_edges(sizes, probs, seed)
    g = torch.Generator().manual_seed(seed + 1)
    directions = torch.randn(feature_dim, classes, generator=g)
    if feature_dim >= classes:
        directions = torch.linalg.qr(directions).Q
    else:
        directions = directions / directions.norm(dim=0, keepdim=True)
    means = directions.T * (separation / 2 ** 0.5)
    x = means[y] + torch.randn(n, feature_dim, generator=g)
    return _graph(x, y, edge_index, random_split_masks(n, split, seed + 2))
