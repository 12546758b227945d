"""Friedkin–Johnsen opinion dynamics on agent networks, with one adversary, its levers and defences.

The model (Friedkin & Johnsen 1990; used for LLM multi-agent systems by Abedini, Mavali, Schönherr,
Pawelczyk & Burkholz, "Don't Trust Stubborn Neighbors", arXiv 2603.15809):

.. math::

    x(t+1) = S\\,x(0) + (I - S)\\,W\\,x(t), \\qquad S = \\mathrm{diag}(s_1, \\dots, s_n),

with `W` (n, n) non-negative and row-stochastic (`W[i, j]` is the trust agent i puts in agent j) and
`s` (n,) the innate stubbornness in [0, 1]. When every agent can reach (along edges `W[i, j] > 0`) an
agent with `s_j > 0`, the iteration converges to

.. math::

    x^* = (I - (I - S) W)^{-1} S\\, x(0) = P\\, x(0),

and the influence matrix `P` is row-stochastic: `P[i, j]` is the share of agent j's initial opinion in
agent i's final one. An adversary `a` with `s_a = 1` keeps `x_a(0)`; with all benign `s_i = 0` every
agent that can reach it ends at `x_a` (the persuasion cascade).

Opinions `x0` may be `(n,)`, or `(n, k)` for k questions deliberated at once; `W` (..., n, n) and
`s` (..., n) may carry leading batch dimensions (a parameter sweep), and `x0` may then also be
`(..., n, k)`.

The trust-adaptive defence (`trust_adaptive_defence`) is a *reconstruction*: the paper's abstract says
only that it "dynamically adjusts inter-agent trust to limit adversarial influence"; the update rule
implemented here (multiplicative decay of trust in neighbours that are observed to be stubborn and to
disagree, rows renormalised, self-weight never decayed) follows the title and the repository's note.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import networkx as nx
import numpy as np

ROW_TOL = 1e-6
TOPOLOGIES = ("complete", "star", "ring", "erdos_renyi", "karate", "florentine")
FIXED_SIZE = {"karate": 34, "florentine": 15}


class SingularFJError(ValueError):
    """I − (I − S) W is singular: some agents reach no agent with s > 0, so x* is not unique."""


# ---------------------------------------------------------------------------------------------
# validation


def validate_trust(W: np.ndarray, tol: float = ROW_TOL) -> np.ndarray:
    """`W` as a float array (..., n, n), checked square, finite, non-negative and row-stochastic."""
    W = np.asarray(W, dtype=float)
    if W.ndim < 2 or W.shape[-1] != W.shape[-2]:
        raise ValueError(f"W must be square (n, n) (optionally with leading batch dims), got shape {W.shape}")
    if W.shape[-1] == 0:
        raise ValueError("W must have at least one agent")
    if not np.all(np.isfinite(W)):
        raise ValueError("W has NaN or infinite entries")
    if np.any(W < 0):
        raise ValueError(f"W must be non-negative (trust weights); smallest entry is {W.min():.3g}")
    rows = W.sum(axis=-1)
    bad = np.abs(rows - 1.0) > tol
    if np.any(bad):
        worst = rows.flat[np.argmax(np.abs(rows - 1.0))]
        raise ValueError(f"W must be row-stochastic (each row sums to 1 within {tol:g}); "
                         f"{int(bad.sum())} row(s) do not, e.g. a row sums to {worst:.6g}. "
                         "Normalise with W / W.sum(axis=-1, keepdims=True)")
    return W


def validate_stubbornness(s: np.ndarray, n: int) -> np.ndarray:
    """`s` as a float array (..., n) with values in [0, 1] and no NaN."""
    s = np.asarray(s, dtype=float)
    if s.ndim < 1 or s.shape[-1] != n:
        raise ValueError(f"stubbornness s must have shape (n,) = ({n},) (optionally with batch dims), "
                         f"got {s.shape}")
    if np.any(np.isnan(s)):
        raise ValueError("stubbornness s has NaN entries")
    if np.any((s < 0) | (s > 1)):
        raise ValueError(f"stubbornness s must lie in [0, 1]; got values in [{s.min():.3g}, {s.max():.3g}]")
    return s


def _opinions(x0: np.ndarray, n: int) -> tuple[np.ndarray, bool]:
    """x0 as (..., n, k) and whether it was a single vector (n,)."""
    x0 = np.asarray(x0, dtype=float)
    if x0.ndim == 0 or x0.shape[-1 if x0.ndim == 1 else -2] != n:
        raise ValueError(f"x0 must have shape (n,), (n, k) or (..., n, k) with n = {n}, got {x0.shape}")
    if not np.all(np.isfinite(x0)):
        raise ValueError("x0 has NaN or infinite entries")
    return (x0[:, None], True) if x0.ndim == 1 else (x0, False)


def _checked(W, s, x0=None):
    W = validate_trust(W)
    n = W.shape[-1]
    s = validate_stubbornness(s, n)
    if x0 is None:
        return W, s, None, False
    x, vector = _opinions(x0, n)
    return W, s, x, vector


def unreached_agents(W: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Boolean (..., n): agents that reach no agent with s > 0 along edges W[i, j] > 0."""
    W, s, _, _ = _checked(W, s)
    adj = W > 0
    reach = s > 0
    for _ in range(W.shape[-1]):  # a path needs at most n - 1 hops
        new = reach | np.any(adj & reach[..., None, :], axis=-1)
        if np.array_equal(new, reach):
            break
        reach = new
    return ~reach


def _require_unique(W: np.ndarray, s: np.ndarray) -> None:
    lost = unreached_agents(W, s)
    if np.any(lost):
        idx = np.argwhere(lost)[:5].tolist()
        raise SingularFJError(
            "I - (I - S) W is singular: agent(s) " + ", ".join(map(str, idx)) + " reach no agent with "
            "stubbornness s > 0 (a closed group with s = 0 is pure DeGroot averaging, whose limit depends "
            "on x(0) beyond S x(0)); iterate with fj_simulate instead")


# ---------------------------------------------------------------------------------------------
# dynamics


def influence_matrix(W: np.ndarray, s: np.ndarray) -> np.ndarray:
    """P = (I − (I − S) W)^{-1} S, shape (..., n, n); row-stochastic when it exists."""
    W, s, _, _ = _checked(W, s)
    _require_unique(W, s)
    n = W.shape[-1]
    A = np.eye(n) - (1.0 - s)[..., :, None] * W
    return np.linalg.solve(A, np.eye(n) * s[..., None, :])


def fj_equilibrium(W: np.ndarray, s: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """Closed-form FJ steady state x* = (I − (I − S) W)^{-1} S x0.

    W: (..., n, n), s: (..., n), x0: (n,), (n, k) or (..., n, k). Returns (..., n) for a vector x0,
    else (..., n, k). Raises `SingularFJError` when some agent reaches no stubborn agent.
    """
    W, s, x, vector = _checked(W, s, x0)
    _require_unique(W, s)
    n = W.shape[-1]
    A = np.eye(n) - (1.0 - s)[..., :, None] * W
    out = np.linalg.solve(A, s[..., :, None] * x)
    return out[..., 0] if vector else out


def fj_simulate(W: np.ndarray, s: np.ndarray, x0: np.ndarray, steps: int = 200,
                tol: float | None = None) -> np.ndarray:
    """Iterate x(t+1) = S x0 + (I − S) W x(t) from x(0) = x0.

    Returns the trajectory (T, ..., n) for a vector x0, else (T, ..., n, k), with T = steps + 1, or
    fewer when `tol` is given and max |x(t+1) − x(t)| < tol first (the last state is the one that
    met it). Works when the closed form does not (pure DeGroot groups).
    """
    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    if tol is not None and not tol > 0:
        raise ValueError(f"tol must be positive or None, got {tol!r}")
    W, s, x, vector = _checked(W, s, x0)
    anchor = s[..., :, None] * x
    keep = (1.0 - s)[..., :, None]
    x = np.broadcast_to(x, np.broadcast_shapes(x.shape, anchor.shape)).copy()
    traj = [x]
    for _ in range(steps):
        nxt = anchor + keep * (W @ x)
        traj.append(nxt)
        if tol is not None and np.max(np.abs(nxt - x)) < tol:
            break
        x = nxt
    out = np.stack(traj)
    return out[..., 0] if vector else out


def fj_limit(W: np.ndarray, s: np.ndarray, x0: np.ndarray, steps: int = 100_000,
             tol: float = 1e-12) -> np.ndarray:
    """lim x(t): the closed form where it is unique, else (pure DeGroot groups) the iterated limit.

    Shapes as in `fj_equilibrium`. The iteration stops once max |x(t+1) − x(t)| < tol.
    """
    try:
        return fj_equilibrium(W, s, x0)
    except SingularFJError:
        return fj_simulate(W, s, x0, steps=steps, tol=tol)[-1]


# ---------------------------------------------------------------------------------------------
# networks: a networkx topology, one adversary, benign trust in it


def make_topology(name: str, n_agents: int | None = None, *, seed: int = 0,
                  p: float | None = None) -> nx.Graph:
    """A connected undirected graph on nodes 0..n−1 (all agents, the adversary included).

    complete, star (node 0 the hub), ring, erdos_renyi (G(n, p), p defaults to min(1, 2 ln n / n),
    resampled until connected) take `n_agents`; karate (34) and florentine (15) are the bundled
    real networks, for which `n_agents` is ignored (their original labels are kept as node
    attribute "label").
    """
    if name not in TOPOLOGIES:
        raise ValueError(f"unknown topology {name!r}; choose one of {', '.join(TOPOLOGIES)}")
    if name in FIXED_SIZE:
        g = nx.karate_club_graph() if name == "karate" else nx.florentine_families_graph()
        return nx.convert_node_labels_to_integers(g, label_attribute="label")
    if not isinstance(n_agents, (int, np.integer)) or n_agents < 2:
        raise ValueError(f"topology {name!r} needs n_agents >= 2, got {n_agents!r}")
    n = int(n_agents)
    if name == "complete":
        return nx.complete_graph(n)
    if name == "star":
        return nx.star_graph(n - 1)
    if name == "ring":
        return nx.cycle_graph(n) if n > 2 else nx.path_graph(n)
    p = min(1.0, 2.0 * math.log(n) / n) if p is None else p
    if not 0 < p <= 1:
        raise ValueError(f"erdos_renyi needs 0 < p <= 1, got {p}")
    rng = np.random.default_rng(seed)
    for _ in range(1000):
        g = nx.gnp_random_graph(n, p, seed=int(rng.integers(2**31)))
        if nx.is_connected(g):
            return g
    raise ValueError(f"no connected G({n}, {p}) in 1000 draws; raise p")


@dataclass(frozen=True)
class AgentNetwork:
    """Trust matrix `W` (n, n), stubbornness `s` (n,), the adversary's index (None: no attack)."""

    W: np.ndarray
    s: np.ndarray
    adversary: int | None
    graph: nx.Graph
    trust: float = 1.0

    @property
    def n(self) -> int:
        return self.W.shape[0]

    @property
    def benign(self) -> np.ndarray:
        """Boolean mask (n,) of the benign agents."""
        mask = np.ones(self.n, dtype=bool)
        if self.adversary is not None:
            mask[self.adversary] = False
        return mask


def _place_adversary(graph: nx.Graph, adversary) -> int | None:
    if adversary is None:
        return None
    deg = dict(graph.degree())
    if adversary == "max_degree":
        return max(sorted(deg), key=lambda v: deg[v])
    if adversary == "min_degree":
        return min(sorted(deg), key=lambda v: deg[v])
    if isinstance(adversary, (int, np.integer)) and adversary in graph:
        return int(adversary)
    raise ValueError(f"adversary must be None, 'max_degree', 'min_degree' or a node of the graph "
                     f"(0..{graph.number_of_nodes() - 1}), got {adversary!r}")


def trust_matrix(graph: nx.Graph, adversary: int | None = None, trust: float = 1.0) -> np.ndarray:
    """Row-stochastic W (n, n) on `graph` (nodes 0..n−1): each agent weighs itself and each neighbour
    equally, except that the adversary's neighbours weigh it `trust` times as much as a peer
    (its persuasiveness): w_ia = trust / (deg_i + trust) for a neighbour i with deg_i − 1 benign
    neighbours. The adversary itself averages uniformly (this matters only when s_a < 1).
    """
    if not (isinstance(trust, (int, float, np.floating)) and trust >= 0 and math.isfinite(trust)):
        raise ValueError(f"trust (the adversary's relative weight) must be finite and >= 0, got {trust!r}")
    n = graph.number_of_nodes()
    if sorted(graph.nodes) != list(range(n)):
        raise ValueError("graph nodes must be 0..n-1 (use nx.convert_node_labels_to_integers)")
    A = nx.to_numpy_array(graph, nodelist=range(n), weight=None)
    np.fill_diagonal(A, 0.0)
    A = (A > 0).astype(float)
    if adversary is not None:
        A[:, adversary] *= trust
        A[adversary, :] = (A[adversary, :] > 0)
    A += np.eye(n)
    return A / A.sum(axis=1, keepdims=True)


def build_network(graph: nx.Graph, *, adversary: int | str | None = "max_degree", trust: float = 1.0,
                  benign_stubbornness: float | np.ndarray = 0.0,
                  adversary_stubbornness: float = 1.0) -> AgentNetwork:
    """One adversary placed on a node of `graph` (default: the most connected, the worst case).

    `adversary=None` gives the no-attack network: the same topology with every agent benign.
    `benign_stubbornness` is a number or an array (n,) (the adversary's entry is then overwritten).
    """
    adv = _place_adversary(graph, adversary)
    W = trust_matrix(graph, adv, trust)
    n = W.shape[0]
    s = np.broadcast_to(np.asarray(benign_stubbornness, dtype=float), (n,)).copy()
    if adv is not None:
        s[adv] = adversary_stubbornness
    validate_stubbornness(s, n)
    return AgentNetwork(W, s, adv, graph, float(trust))


def agent_network(topology: str, n_benign: int | None = None, *, seed: int = 0, attack: bool = True,
                  adversary: int | str = "max_degree", trust: float = 1.0,
                  benign_stubbornness: float = 0.0, adversary_stubbornness: float = 1.0) -> AgentNetwork:
    """`make_topology(topology, n_benign + 1)` then `build_network`; `attack=False`: no adversary."""
    n_agents = None if n_benign is None else n_benign + 1
    graph = make_topology(topology, n_agents, seed=seed)
    return build_network(graph, adversary=adversary if attack else None, trust=trust,
                         benign_stubbornness=benign_stubbornness,
                         adversary_stubbornness=adversary_stubbornness)


def initial_opinions(net: AgentNetwork, n_questions: int = 1, *, seed: int = 0,
                     benign_range: tuple[float, float] = (0.0, 0.7),
                     adversary_value: float = 1.0) -> np.ndarray:
    """x0 (n, k): benign beliefs in the wrong answer ~ U(benign_range), the adversary's = adversary_value.

    With the default range the benign average (0.35) is on the right side of the 0.5 decision
    threshold, although about 29% of individual agents start on the wrong side: deliberation
    without attack fixes them, a successful attack pulls everyone past the threshold.
    """
    lo, hi = benign_range
    if not (0 <= lo <= hi <= 1):
        raise ValueError(f"benign_range must satisfy 0 <= lo <= hi <= 1, got {benign_range}")
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(lo, hi, size=(net.n, n_questions))
    if net.adversary is not None:
        x0[net.adversary] = adversary_value
    return x0


# ---------------------------------------------------------------------------------------------
# attack-success and utility metrics (benign agents only)


def adversary_influence(P: np.ndarray, net: AgentNetwork) -> np.ndarray:
    """Mean over benign i of P[i, a]: the adversary's share of benign final opinions, (...,)."""
    if net.adversary is None:
        return np.zeros(P.shape[:-2])
    return P[..., net.benign, net.adversary].mean(axis=-1)


def _benign_values(x: np.ndarray, benign: np.ndarray) -> np.ndarray:
    """x (n,) or (..., n, k) → its benign rows (..., n_benign, k)."""
    x = np.asarray(x, dtype=float)
    x = x[:, None] if x.ndim == 1 else x
    if x.shape[-2] != benign.shape[0]:
        raise ValueError(f"opinions must be (n,) or (..., n, k) with n = {benign.shape[0]}, got {x.shape}; "
                         "add a question axis to a batch of vectors with x[..., None]")
    return x[..., benign, :]


def mean_benign_opinion(x: np.ndarray, benign: np.ndarray) -> np.ndarray:
    """Mean benign opinion (toward the adversary's value 1), over agents and questions: (...,)."""
    return _benign_values(x, benign).mean(axis=(-2, -1))


def capture_rate(x: np.ndarray, benign: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Fraction of benign (agent, question) pairs past the decision threshold (adopted the wrong
    answer): the attack success rate under attack, the error rate without one. Shape (...,)."""
    return (_benign_values(x, benign) > threshold).mean(axis=(-2, -1))


def disagreement(x: np.ndarray, benign: np.ndarray) -> np.ndarray:
    """Standard deviation of benign opinions across agents, averaged over questions: (...,).
    0 is full consensus; the cost that high stubbornness imposes."""
    return _benign_values(x, benign).std(axis=-2).mean(axis=-1)


# ---------------------------------------------------------------------------------------------
# the three levers, as batched sweeps


LEVERS = ("n_benign", "benign_stubbornness", "trust")


def sweep_lever(lever: str, values: Sequence[float], *, topology: str, n_benign: int = 10,
                trust: float = 1.0, benign_stubbornness: float = 0.0,
                adversary_stubbornness: float = 1.0, seeds: Sequence[int] = (0,), n_questions: int = 8,
                threshold: float = 0.5, adversary: int | str = "max_degree") -> dict[str, np.ndarray]:
    """Equilibrium attack metrics while one lever moves and the others stay fixed.

    Returns arrays of shape (len(values), len(seeds)): "influence" (adversary's share of benign
    opinions), "mean_opinion", "capture" (attack success rate) under attack, and "disagreement" and
    "error" (capture rate) in the matching no-attack network. The stubbornness and trust sweeps are
    solved as one batch per seed; the size sweep builds one network per value.
    """
    if lever not in LEVERS:
        raise ValueError(f"unknown lever {lever!r}; choose one of {', '.join(LEVERS)}")
    keys = ("influence", "mean_opinion", "capture", "disagreement", "error")
    out = {k: np.zeros((len(values), len(seeds))) for k in keys}
    base = dict(trust=trust, benign_stubbornness=benign_stubbornness,
                adversary_stubbornness=adversary_stubbornness, adversary=adversary)
    for c, seed in enumerate(seeds):
        if lever == "n_benign":
            for r, v in enumerate(values):
                kw = dict(base)
                nets = [agent_network(topology, int(v), seed=seed, attack=a, **kw) for a in (True, False)]
                res = _equilibrium_metrics(nets, [n.W for n in nets], [n.s for n in nets],
                                           seed, n_questions, threshold)
                for k in keys:
                    out[k][r, c] = res[k][0]
            continue
        nets = [agent_network(topology, n_benign, seed=seed, attack=a, **base) for a in (True, False)]
        if lever == "benign_stubbornness":
            Ws = [np.broadcast_to(n.W, (len(values), n.n, n.n)) for n in nets]
            ss = []
            for n in nets:
                s = np.repeat(n.s[None], len(values), axis=0)
                s[:, n.benign] = np.asarray(values, dtype=float)[:, None]
                ss.append(s)
        else:  # trust
            Ws = [np.stack([trust_matrix(n.graph, n.adversary, float(v)) for v in values]) for n in nets]
            ss = [np.broadcast_to(n.s, (len(values), n.n)) for n in nets]
        res = _equilibrium_metrics(nets, Ws, ss, seed, n_questions, threshold)
        for k in keys:
            out[k][:, c] = res[k]
    return out


def _equilibrium_metrics(nets, Ws, ss, seed, n_questions, threshold):
    attacked, clean = nets
    x0a = initial_opinions(attacked, n_questions, seed=seed)
    x0c = initial_opinions(clean, n_questions, seed=seed)
    P = influence_matrix(Ws[0], ss[0])
    xa = P @ x0a
    xc = fj_limit(Ws[1], ss[1], x0c)  # no attack and s = 0 is DeGroot: iterate to consensus
    return {"influence": np.atleast_1d(adversary_influence(P, attacked)),
            "mean_opinion": np.atleast_1d(mean_benign_opinion(xa, attacked.benign)),
            "capture": np.atleast_1d(capture_rate(xa, attacked.benign, threshold)),
            "disagreement": np.atleast_1d(disagreement(xc, clean.benign)),
            "error": np.atleast_1d(capture_rate(xc, clean.benign, threshold))}


def with_benign_stubbornness(net: AgentNetwork, value: float) -> AgentNetwork:
    """The baseline defence: every benign agent's stubbornness set to `value` (the adversary's kept)."""
    s = net.s.copy()
    s[net.benign] = value
    validate_stubbornness(s, net.n)
    return replace(net, s=s)


def with_trust(net: AgentNetwork, trust: float) -> AgentNetwork:
    """The same network with the adversary's neighbours trusting it `trust` times a peer."""
    return replace(net, W=trust_matrix(net.graph, net.adversary, trust), trust=float(trust))


# ---------------------------------------------------------------------------------------------
# the trust-adaptive defence (reconstruction)


@dataclass(frozen=True)
class DefenceRun:
    """Trajectory (T, ..., n, k) (or (T, ..., n) for a vector x0), final trust W (..., n, n) and,
    when recorded, the trust history (T, ..., n, n) (W in force before each round, then the last)."""

    trajectory: np.ndarray
    W: np.ndarray
    W_history: np.ndarray | None = None


def trust_adaptive_defence(W: np.ndarray, s: np.ndarray, x0: np.ndarray, rounds: int, rate: float,
                           defenders: np.ndarray | None = None, eps: float = 1e-9,
                           record_weights: bool = False) -> DefenceRun:
    """FJ deliberation in which agents lower their trust in neighbours that look stubborn (reconstruction).

    Each round runs x(t+1) = S x0 + (I − S) W(t) x(t), then every defender i updates its trust:

    .. math::

        \\hat s_{ij}(t) = \\mathrm{clip}\\Big(1 - \\frac{\\sum_{\\tau \\le t} |x_j(\\tau+1) - x_j(\\tau)|}
                          {\\sum_{\\tau \\le t} |m_i(\\tau) - x_j(\\tau)| + \\epsilon}, 0, 1\\Big),
        \\quad m_i = \\sum_l w_{il} x_l,

        w_{ij}(t+1) \\propto w_{ij}(t)\\, \\exp\\big(-\\eta\\, \\hat s_{ij}(t)\\, |x_j(t+1) - x_i(t+1)|\\big)
        \\quad (j \\ne i), \\qquad w_{ii} \\text{ not decayed},

    then rows are renormalised. `ŝ_ij` is i's estimate of j's stubbornness: how little j has moved,
    in total, relative to the pull that i sees on it (its own weighted view `m_i` of the group); a
    neighbour that does not budge while disagreeing loses trust, one that updates keeps it. Opinion
    differences are averaged over the k questions. `defenders` (n,) bool marks the rows that adapt
    (default: all; pass `net.benign` so that the adversary does not). The exact rule of the paper is
    not public; this is the note's example form with suspicion = observed stubbornness × disagreement.

    W: (..., n, n), s: (..., n), x0: (n,), (n, k) or (..., n, k); `rate` η >= 0 (0: plain FJ), a
    number or an array over the batch dimensions (a sweep of rates in one call).
    """
    if not isinstance(rounds, (int, np.integer)) or rounds < 0:
        raise ValueError(f"rounds must be a non-negative integer, got {rounds!r}")
    eta = np.asarray(rate, dtype=float)
    if eta.dtype.kind != "f" or not np.all(np.isfinite(eta)) or np.any(eta < 0):
        raise ValueError(f"rate (η) must be finite and >= 0, got {rate!r}")
    W, s, x, vector = _checked(W, s, x0)
    n = W.shape[-1]
    adapt = np.ones(n, dtype=bool) if defenders is None else np.asarray(defenders, dtype=bool)
    if adapt.shape != (n,):
        raise ValueError(f"defenders must be a boolean mask of shape ({n},), got {adapt.shape}")
    off = ~np.eye(n, dtype=bool) & adapt[:, None]  # entries that may decay
    anchor = s[..., :, None] * x
    keep = (1.0 - s)[..., :, None]
    eta = eta[..., None, None]
    shape = np.broadcast_shapes(x.shape, anchor.shape, W.shape[:-2] + (n, 1), eta.shape)
    x = np.broadcast_to(x, shape).copy()
    W = np.broadcast_to(W, shape[:-2] + (n, n)).copy()
    moved = np.zeros(shape[:-2] + (1, n))      # Σ_τ |Δx_j|, seen alike by every observer
    pulled = np.zeros(shape[:-2] + (n, n))     # Σ_τ |m_i − x_j|, observer i's view of j's pull
    traj, hist = [x], [W.copy()] if record_weights else None
    for _ in range(rounds):
        m = W @ x
        nxt = anchor + keep * m
        moved += np.abs(nxt - x).mean(axis=-1)[..., None, :]
        pulled += np.abs(m[..., :, None, :] - x[..., None, :, :]).mean(axis=-1)
        stubborn = np.clip(1.0 - moved / (pulled + eps), 0.0, 1.0)
        gap = np.abs(nxt[..., None, :, :] - nxt[..., :, None, :]).mean(axis=-1)
        W = W * np.exp(-eta * stubborn * gap * off)
        W /= W.sum(axis=-1, keepdims=True)
        x = nxt
        traj.append(x)
        if hist is not None:
            hist.append(W.copy())
    out = np.stack(traj)
    return DefenceRun(out[..., 0] if vector else out, W, np.stack(hist) if hist is not None else None)


# ---------------------------------------------------------------------------------------------
# sweeps over the attack and over the defences


def sweep_attack(topology: str, adversary_stubbornness: Sequence[float], trust: Sequence[float], *,
                 n_benign: int = 10, benign_stubbornness: float = 0.0, seeds: Sequence[int] = (0,),
                 n_questions: int = 8, threshold: float = 0.5,
                 adversary: int | str = "max_degree") -> dict[str, np.ndarray]:
    """Equilibrium "influence" and "capture" over a grid (len(adv_s), len(trust), len(seeds)):
    how stubborn and how persuasive must the adversary be to take over? One batch per seed."""
    a_vals = np.asarray(adversary_stubbornness, dtype=float)
    out = {k: np.zeros((len(a_vals), len(trust), len(seeds))) for k in ("influence", "capture")}
    for c, seed in enumerate(seeds):
        net = agent_network(topology, n_benign, seed=seed, adversary=adversary,
                            benign_stubbornness=benign_stubbornness)
        Ws = np.stack([trust_matrix(net.graph, net.adversary, float(v)) for v in trust])  # (T, n, n)
        s = np.repeat(net.s[None], len(a_vals), axis=0)
        s[:, net.adversary] = a_vals
        x0 = initial_opinions(net, n_questions, seed=seed)
        P = influence_matrix(Ws[None], s[:, None])  # (A, T, n, n)
        out["influence"][..., c] = adversary_influence(P, net)
        out["capture"][..., c] = capture_rate(P @ x0, net.benign, threshold)
    return out


def defence_sweep(topology: str, n_benign: int = 10, *, rates: Sequence[float] = (0.0, 2.0),
                  stubbornness_levels: Sequence[float] = (0.4,), seeds: Sequence[int] = (0,),
                  rounds: int = 30, trust: float = 1.0, benign_stubbornness: float = 0.0,
                  adversary_stubbornness: float = 1.0, n_questions: int = 8, threshold: float = 0.5,
                  adversary: int | str = "max_degree") -> dict[str, np.ndarray]:
    """Attack success and no-attack utility after `rounds` rounds of deliberation, for the
    trust-adaptive defence at each rate (rate 0 is no defence) and for the baseline defence that
    raises every benign agent's stubbornness to each level.

    Returns arrays (len(rates) or len(levels), len(seeds)): "<m>_asr" (capture rate under attack),
    "<m>_opinion" (mean benign opinion under attack), "<m>_disagreement" and "<m>_error" (no-attack
    run on the same topology) for m in ("defence", "stubborn"), plus "defence_trust" (mean trust
    the adversary's benign neighbours still put in it at the end). Each seed runs every rate in one
    batch, and every level in another.
    """
    rates = np.asarray(rates, dtype=float)
    levels = np.asarray(stubbornness_levels, dtype=float)
    out: dict[str, np.ndarray] = {}
    for m, size in (("defence", len(rates)), ("stubborn", len(levels))):
        for key in ("asr", "opinion", "disagreement", "error"):
            out[f"{m}_{key}"] = np.zeros((size, len(seeds)))
    out["defence_trust"] = np.zeros((len(rates), len(seeds)))
    kw = dict(adversary=adversary, trust=trust, adversary_stubbornness=adversary_stubbornness)
    for c, seed in enumerate(seeds):
        net = agent_network(topology, n_benign, seed=seed, benign_stubbornness=benign_stubbornness, **kw)
        clean = agent_network(topology, n_benign, seed=seed, attack=False,
                              benign_stubbornness=benign_stubbornness, **kw)
        for current, label in ((net, "attack"), (clean, "clean")):
            x0 = initial_opinions(current, n_questions, seed=seed)
            run = trust_adaptive_defence(current.W, current.s, x0, rounds, rates, defenders=current.benign)
            s = np.repeat(current.s[None], len(levels), axis=0)
            s[:, current.benign] = levels[:, None]
            plain = fj_simulate(current.W, s, x0, rounds)[-1]
            for m, x in (("defence", run.trajectory[-1]), ("stubborn", plain)):
                if label == "attack":
                    out[f"{m}_asr"][:, c] = capture_rate(x, current.benign, threshold)
                    out[f"{m}_opinion"][:, c] = mean_benign_opinion(x, current.benign)
                else:
                    out[f"{m}_disagreement"][:, c] = disagreement(x, current.benign)
                    out[f"{m}_error"][:, c] = capture_rate(x, current.benign, threshold)
            if label == "attack":
                a = current.adversary
                nbr = current.benign & (current.W[:, a] > 0)
                out["defence_trust"][:, c] = run.W[:, nbr, a].mean(axis=-1)
    return out
