"""Multi-agent deliberation as a mixture of experts with input-dependent Friedkin–Johnsen parameters.

Bause, Niederle, Pawelczyk & Burkholz, "Multi-Agent Systems are Mixtures of Experts: Who Becomes an
Influencer?", arXiv 2605.25929 (2026). `n` agents deliberate on `Q` multiple-choice questions with `k`
options; agent i's opinion is a belief vector x_i ∈ Δ^k. On question q the agents follow FJ dynamics
(`relml.dynamics.opinion`) whose parameters depend on the question,

.. math::

    x(t+1) = S(q)\\,x(0) + (I - S(q))\\,W(q)\\,x(t), \\qquad
    x^* = P(q)\\,x(0), \\quad P(q) = (I - (I - S(q)) W(q))^{-1} S(q),

so the group's answer (the mean final belief) is a mixture of the agents' initial beliefs,

.. math::

    \\bar x^*(q) = \\sum_j \\pi_j(q)\\, x_j(0), \\qquad \\pi_j(q) = \\tfrac1n \\sum_i P_{ij}(q),

a mixture of experts whose router is the influence matrix: `π_j(q)` (the column means of P, the
*influence share*) is the gate of expert j on input q. Deliberation helps when this routing follows
the agents' (latent) competence on q.

The simulation (our reconstruction of the paper's setting; the paper runs LLM agents): agents have a
latent competence p_i(τ) per topic τ; on a question of topic τ agent i answers correctly with
probability p_i(τ) and states a belief peaked on its answer, with a peak that carries no information
about correctness. The observable proxies are its self-assessed confidence c_i(q) (calibrated:
p_i(τ) + noise; or, for an overconfident agent, high regardless), the confidence others perceive
(c_j + observer noise) and its initial alignment with the other agents (overlap of initial beliefs).
A behavioural model maps proxies to FJ parameters (`fj_parameters`): confident agents are stubborn,
and agents trust peers that look confident and that already agree with them.

Shapes: W (Q, n, n), s (Q, n), x0 (Q, n, k), P (Q, n, n), beliefs over options (Q, k).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.stats import rankdata

from relml.dynamics import fitting
from relml.dynamics.opinion import fj_limit, influence_matrix, validate_stubbornness, validate_trust

PROXIES = ("self-assessed confidence", "perceived confidence", "initial alignment")

# ---------------------------------------------------------------------------------------------
# validation


def check_deliberation(W: np.ndarray, s: np.ndarray, x0: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """W (Q, n, n), s (Q, n) and x0 (Q, n, k) as float arrays, checked against each other.

    W and s may also be given once for all questions, as (n, n) and (n,); they are then broadcast to
    the question axis of x0 (or of the other one). Raises ValueError naming the expected shapes.
    """
    W, s = np.asarray(W, dtype=float), np.asarray(s, dtype=float)
    if W.ndim not in (2, 3) or W.shape[-1] != W.shape[-2]:
        raise ValueError(f"trust W must have shape (Q, n, n) (or (n, n) for every question), got {W.shape}")
    n = W.shape[-1]
    if s.ndim not in (1, 2) or s.shape[-1] != n:
        raise ValueError(f"stubbornness s must have shape (Q, n) or (n,) with n = {n} agents (the size of "
                         f"W), got {s.shape}")
    if x0 is not None:
        x0 = np.asarray(x0, dtype=float)
        if x0.ndim != 3 or x0.shape[1] != n:
            raise ValueError(f"initial beliefs x0 must have shape (Q, n, k) with n = {n}, got {x0.shape}")
        if not np.all(np.isfinite(x0)):
            raise ValueError("initial beliefs x0 have NaN or infinite entries")
    counts = {a.shape[0] for a, batched in ((W, W.ndim == 3), (s, s.ndim == 2), (x0, x0 is not None))
              if batched}
    if len(counts) > 1:
        raise ValueError(f"W {W.shape}, s {s.shape} and x0 {None if x0 is None else x0.shape} disagree on "
                         "the number of questions Q: pass W (Q, n, n), s (Q, n), x0 (Q, n, k)")
    W, s = validate_trust(W), validate_stubbornness(s, n)
    if counts:
        Q = counts.pop()
        W, s = np.broadcast_to(W, (Q, n, n)), np.broadcast_to(s, (Q, n))
    return W, s, x0


# ---------------------------------------------------------------------------------------------
# the mixture-of-experts view


def routing_matrix(W: np.ndarray, s: np.ndarray, rounds: int | None = None) -> np.ndarray:
    """The router M(q) (Q, n, n) with x(rounds) = M(q) x(0): the influence matrix P(q) at the fixed
    point (`rounds=None`), else M_R = Σ_{t<R} ((I−S)W)^t S + ((I−S)W)^R after R rounds (M_0 = I).

    Both are row-stochastic. The fixed point needs every agent to reach one with s > 0.
    """
    W, s, _ = check_deliberation(W, s)
    if rounds is None:
        return influence_matrix(W, s)
    if not isinstance(rounds, (int, np.integer)) or rounds < 0:
        raise ValueError(f"rounds must be a non-negative integer or None (the fixed point), got {rounds!r}")
    n = W.shape[-1]
    M = np.broadcast_to(np.eye(n), W.shape).copy()
    B = (1.0 - s)[..., :, None] * W
    anchor = np.eye(n) * s[..., None, :]
    for _ in range(rounds):
        M = anchor + B @ M
    return M


def deliberate(W: np.ndarray, s: np.ndarray, x0: np.ndarray, rounds: int | None = None) -> np.ndarray:
    """Final beliefs (Q, n, k) after `rounds` FJ rounds (None: the fixed point) from x0 (Q, n, k)."""
    W, s, x0 = check_deliberation(W, s, x0)
    return routing_matrix(W, s, rounds) @ x0


def influence_share(P: np.ndarray) -> np.ndarray:
    """π (Q, n): column means of the router P (Q, n, n), the gate of each expert; rows sum to 1."""
    P = np.asarray(P, dtype=float)
    if P.ndim < 2 or P.shape[-1] != P.shape[-2]:
        raise ValueError(f"P must be (..., n, n), got {P.shape}")
    return P.mean(axis=-2)


def group_belief(P: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """The MoE output Σ_j π_j(q) x_j(0) (Q, k): the mean final belief of the group.

    P (Q, n, n) and x0 (Q, n, k), or (n, n) and (n, k) for a single question.
    """
    return np.einsum("...j,...jk->...k", influence_share(P), np.asarray(x0, dtype=float))


def degroot_weights(W: np.ndarray) -> np.ndarray:
    """Consensus weights (Q, n) of DeGroot averaging (all s = 0): x_i(∞) = Σ_j π_j x_j(0) for every i,
    with π the stationary distribution of W (W irreducible and aperiodic), found by iterating FJ."""
    W = np.asarray(W, dtype=float)
    n = W.shape[-1]
    return fj_limit(W, np.zeros(W.shape[:-1]), np.broadcast_to(np.eye(n), W.shape)).mean(axis=-2)


# ---------------------------------------------------------------------------------------------
# answers and accuracy


def accuracy(scores: np.ndarray, correct: np.ndarray) -> float:
    """Mean over questions of 1[correct option scores highest], ties credited 1 / (number tied).

    scores: (Q, k) beliefs or vote counts; correct: (Q,) option indices.
    """
    scores, correct = np.asarray(scores, dtype=float), np.asarray(correct)
    if scores.ndim != 2 or correct.shape != scores.shape[:1]:
        raise ValueError(f"scores must be (Q, k) and correct (Q,), got {scores.shape} and {correct.shape}")
    top = np.isclose(scores, scores.max(axis=-1, keepdims=True), rtol=0, atol=1e-12)
    return float((top[np.arange(len(correct)), correct] / top.sum(-1)).mean())


def majority_votes(x0: np.ndarray) -> np.ndarray:
    """Vote counts (Q, k): each agent votes for the argmax of its initial belief x0 (Q, n, k)."""
    x0 = np.asarray(x0, dtype=float)
    return np.eye(x0.shape[-1])[x0.argmax(-1)].sum(axis=-2)


def agent_accuracies(x0: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """Accuracy (n,) of each agent answering alone with the argmax of its belief."""
    return (np.asarray(x0).argmax(-1) == np.asarray(correct)[:, None]).mean(axis=0)


# ---------------------------------------------------------------------------------------------
# simulated agents


def agent_competence(n_agents: int, n_topics: int, *, seed: int | np.random.Generator = 0,
                     expert: tuple[float, float] = (0.75, 0.95),
                     base: tuple[float, float] = (0.3, 0.5)) -> np.ndarray:
    """Latent competence p (n_agents, n_topics): P(agent answers a question of the topic correctly).

    Agent i < n_topics is the expert of topic i (p ~ U(expert)); every other entry, and every agent
    beyond the n_topics experts (generalists), draws p ~ U(base).
    """
    if not (isinstance(n_agents, (int, np.integer)) and isinstance(n_topics, (int, np.integer))
            and n_agents >= 2 and n_topics >= 1):
        raise ValueError(f"need n_agents >= 2 and n_topics >= 1 (integers), got {n_agents!r}, {n_topics!r}")
    for name, (lo, hi) in (("expert", expert), ("base", base)):
        if not 0 <= lo <= hi <= 1:
            raise ValueError(f"{name} competence range must satisfy 0 <= lo <= hi <= 1, got {(lo, hi)}")
    rng = np.random.default_rng(seed)
    p = rng.uniform(*base, size=(n_agents, n_topics))
    m = min(n_agents, n_topics)
    p[np.arange(m), np.arange(m)] = rng.uniform(*expert, size=m)
    return p


@dataclass(frozen=True)
class Agents:
    """The agents' first round on Q questions: latent truth and what the others can observe.

    topic (Q,), correct (Q,), competence (n, topics) latent; x0 (Q, n, k) stated beliefs;
    confidence (Q, n) self-assessed; perceived (Q, n, n) with perceived[q, i, j] agent i's reading of
    j's confidence (diagonal: own confidence). `_conf_noise` (Q, n) and `_perc_noise` (Q, n, n) are
    kept so that a confidence change propagates to the perceptions consistently.
    """

    topic: np.ndarray
    correct: np.ndarray
    competence: np.ndarray
    x0: np.ndarray
    confidence: np.ndarray
    perceived: np.ndarray
    _conf_noise: np.ndarray
    _perc_noise: np.ndarray

    @property
    def n(self) -> int:
        return self.x0.shape[1]

    @property
    def answers(self) -> np.ndarray:
        """Initial answers (Q, n): the argmax of each stated belief."""
        return self.x0.argmax(-1)

    @property
    def topic_competence(self) -> np.ndarray:
        """Latent competence on each question's topic, (Q, n)."""
        return self.competence[:, self.topic].T

    @property
    def overlap(self) -> np.ndarray:
        """Pairwise agreement of initial beliefs o_ij = Σ_a min(x_ia, x_ja) ∈ [0, 1], (Q, n, n)."""
        return belief_overlap(self.x0)

    def proxies(self) -> dict[str, np.ndarray]:
        """The observable proxies of influence, each (Q, n); see `influence_proxies`."""
        return influence_proxies(self.x0, self.confidence, self.perceived)


def belief_overlap(x0: np.ndarray) -> np.ndarray:
    """o_ij = Σ_a min(x_ia, x_ja) (Q, n, n) for beliefs x0 (Q, n, k): 1 − total-variation distance."""
    x0 = np.asarray(x0, dtype=float)
    return np.minimum(x0[..., :, None, :], x0[..., None, :, :]).sum(-1)


def influence_proxies(x0: np.ndarray, confidence: np.ndarray, perceived: np.ndarray) -> dict[str, np.ndarray]:
    """The observable proxies of influence, each (Q, n): the self-assessed confidence (Q, n), the
    confidence the other agents perceive (mean over observers i ≠ j of perceived[q, i, j], (Q, n, n);
    NaN entries, unrated pairs, are skipped)
    and the initial alignment with the others (mean overlap of x_j(0) with their x_i(0))."""
    x0, conf, perc = (np.asarray(a, dtype=float) for a in (x0, confidence, perceived))
    Q, n = conf.shape
    if x0.shape[:2] != (Q, n) or perc.shape != (Q, n, n):
        raise ValueError(f"need x0 (Q, n, k), confidence (Q, n), perceived (Q, n, n); got {x0.shape}, "
                         f"{conf.shape}, {perc.shape}")
    off = 1.0 - np.eye(n)
    others = max(n - 1, 1)
    return {PROXIES[0]: conf,
            PROXIES[1]: np.nanmean(np.where(off > 0, perc, np.nan), axis=-2),
            PROXIES[2]: (belief_overlap(x0) * off).sum(-2) / others}


def _clip_conf(c: np.ndarray) -> np.ndarray:
    return np.clip(c, 0.01, 0.99)


def simulate_agents(competence: np.ndarray, n_questions: int, *, n_options: int = 4,
                    seed: int | np.random.Generator = 0, peak: tuple[float, float] = (0.45, 0.9),
                    confidence_noise: float = 0.05, perception_noise: float = 0.1) -> Agents:
    """Agents with latent `competence` (n, topics) answer `n_questions` questions of random topics.

    Agent i answers correctly with probability p_i(topic), otherwise picks a wrong option uniformly;
    its stated belief puts mass m ~ U(peak) on its answer and spreads 1 − m over the other options
    with Dirichlet(1, .., 1) proportions (the peak says nothing about correctness). Self-assessed
    confidence is calibrated to competence, c_i = p_i(topic) + N(0, confidence_noise²), clipped to
    [0.01, 0.99]; agent i perceives j's as c_j + N(0, perception_noise²).
    """
    comp = np.asarray(competence, dtype=float)
    if comp.ndim != 2 or comp.shape[0] < 2 or np.any((comp < 0) | (comp > 1)):
        raise ValueError("competence must be (n_agents >= 2, n_topics) with values in [0, 1], "
                         f"got {comp.shape}")
    if not isinstance(n_questions, (int, np.integer)) or n_questions < 1:
        raise ValueError(f"n_questions must be a positive integer, got {n_questions!r}")
    if not isinstance(n_options, (int, np.integer)) or n_options < 2:
        raise ValueError(f"n_options must be an integer >= 2, got {n_options!r}")
    if not 1.0 / n_options <= peak[0] <= peak[1] <= 1:
        raise ValueError(f"peak must satisfy 1/k <= lo <= hi <= 1, got {peak}")
    if confidence_noise < 0 or perception_noise < 0:
        raise ValueError("noise levels must be >= 0")
    rng = np.random.default_rng(seed)
    n, n_topics = comp.shape
    Q, k = int(n_questions), int(n_options)
    topic = rng.integers(n_topics, size=Q)
    correct = rng.integers(k, size=Q)
    p = comp[:, topic].T                                            # (Q, n)
    right = rng.random((Q, n)) < p
    wrong = (correct[:, None] + rng.integers(1, k, size=(Q, n))) % k
    answer = np.where(right, correct[:, None], wrong)
    m = rng.uniform(*peak, size=(Q, n))
    rest = rng.dirichlet(np.ones(k - 1), size=(Q, n))               # spread of the remaining mass
    x0 = np.zeros((Q, n, k))
    others = (answer[..., None] + np.arange(1, k)) % k
    np.put_along_axis(x0, others, (1 - m)[..., None] * rest, axis=-1)
    np.put_along_axis(x0, answer[..., None], m[..., None], axis=-1)
    conf_noise = rng.normal(0.0, confidence_noise, size=(Q, n))
    perc_noise = rng.normal(0.0, perception_noise, size=(Q, n, n)) * (1 - np.eye(n))
    conf = _clip_conf(p + conf_noise)
    return Agents(topic, correct, comp, x0, conf, _clip_conf(conf[:, None, :] + perc_noise),
                  conf_noise, perc_noise)


def make_overconfident(agents: Agents, agent: int, level: float = 0.95) -> Agents:
    """The same agents and answers, but `agent` reports confidence `level` (+ its noise) on every
    question, whatever its competence: miscalibrated, so routing by confidence follows it."""
    if not (isinstance(agent, (int, np.integer)) and 0 <= agent < agents.n):
        raise ValueError(f"agent must be an index in 0..{agents.n - 1}, got {agent!r}")
    if not 0 <= level <= 1:
        raise ValueError(f"level must lie in [0, 1], got {level!r}")
    conf = agents.confidence.copy()
    conf[:, agent] = _clip_conf(level + agents._conf_noise[:, agent])
    return replace(agents, confidence=conf, perceived=_clip_conf(conf[:, None, :] + agents._perc_noise))


def fj_parameters(agents: Agents, *, stubbornness_max: float = 0.9, stubbornness_power: float = 2.0,
                  trust_confidence: float = 4.0, trust_alignment: float = 1.0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Input-dependent FJ parameters from the observable proxies (our behavioural model):

    .. math::

        s_i(q) = s_{max}\\, c_i(q)^{\\gamma}, \\qquad
        W_{ij}(q) \\propto \\exp\\big(\\beta_c\\, \\tilde c_{ij}(q) + \\beta_a\\, o_{ij}(q)\\big),

    with c̃_ij the confidence i perceives in j (c̃_ii = c_i) and o_ij the overlap of their initial
    beliefs (o_ii = 1). Returns W (Q, n, n) row-stochastic and s (Q, n).
    """
    if not 0 <= stubbornness_max <= 1:
        raise ValueError(f"stubbornness_max must lie in [0, 1], got {stubbornness_max}")
    if stubbornness_power < 0:
        raise ValueError(f"stubbornness_power must be >= 0, got {stubbornness_power}")
    s = stubbornness_max * agents.confidence ** stubbornness_power
    logits = trust_confidence * agents.perceived + trust_alignment * agents.overlap
    W = np.exp(logits - logits.max(-1, keepdims=True))
    return W / W.sum(-1, keepdims=True), s


# ---------------------------------------------------------------------------------------------
# comparisons and influence analysis


def compare_methods(agents: Agents, W: np.ndarray, s: np.ndarray, rounds: int | None = None
                    ) -> dict[str, float]:
    """Accuracy of the MAS (FJ deliberation, group answer = argmax of the mean final belief) against
    the best single agent (chosen with hindsight on the same questions), majority vote over initial
    answers, the uniform average of initial beliefs, DeGroot deliberation on the same trust (s = 0),
    and, as references, a static confidence-weighted average and oracle routing to the most competent
    agent of each topic (uses the latent competence)."""
    x0, y = agents.x0, agents.correct
    P = routing_matrix(W, s, rounds)
    oracle = agents.topic_competence.argmax(-1)
    return {
        "best single agent": float(agent_accuracies(x0, y).max()),
        "majority vote": accuracy(majority_votes(x0), y),
        "uniform average": accuracy(x0.mean(1), y),
        "DeGroot (s = 0)": accuracy(np.einsum("qj,qjk->qk", degroot_weights(W), x0), y),
        "FJ deliberation (MAS)": accuracy(group_belief(P, x0), y),
        "confidence-weighted average": accuracy(np.einsum("qj,qjk->qk", agents.confidence, x0), y),
        "oracle routing": accuracy(x0[np.arange(len(y)), oracle], y),
    }


def rank_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman correlation between a and b (Q, n) along the agent axis, one per question (Q,).

    Questions on which either side is constant get NaN (no ranking to predict).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"a and b must both be (Q, n), got {a.shape} and {b.shape}")
    ra, rb = rankdata(a, axis=-1), rankdata(b, axis=-1)
    ra -= ra.mean(-1, keepdims=True)
    rb -= rb.mean(-1, keepdims=True)
    den = np.sqrt((ra ** 2).sum(-1) * (rb ** 2).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ra * rb).sum(-1) / np.where(den > 0, den, 1.0), np.nan)


def proxy_correlations(share: np.ndarray, proxies: dict[str, np.ndarray]) -> dict[str, float]:
    """Mean over questions of the within-question rank correlation between each proxy and the
    influence share π (Q, n): how well the proxy ranks who becomes an influencer."""
    return {name: float(np.nanmean(rank_correlation(p, share))) for name, p in proxies.items()}


def expert_routing_rate(share: np.ndarray, agents: Agents) -> float:
    """Fraction of questions on which the top influencer is the most competent agent on the topic."""
    return float((share.argmax(-1) == agents.topic_competence.argmax(-1)).mean())


def routing_experiment(seed: int, *, n_agents: int = 5, n_topics: int = 4, n_questions: int = 2000,
                       n_options: int = 4, overconfidence: float = 0.95,
                       simulate: dict | None = None, mapping: dict | None = None) -> dict:
    """One seed of the MoE comparison: competent (calibrated) agents, then the same agents with the
    weakest one overconfident. Returns {"aligned": accuracies, "misaligned": accuracies,
    "weak": index, "share": (π aligned, π misaligned), "agents": (aligned, misaligned), "params":
    ((W, s), (W, s))}; `simulate` and `mapping` are passed to `simulate_agents` and `fj_parameters`."""
    rng = np.random.default_rng(seed)
    comp = agent_competence(n_agents, n_topics, seed=rng)
    agents = simulate_agents(comp, n_questions, n_options=n_options, seed=rng, **(simulate or {}))
    weak = int(comp.mean(1).argmin())
    bad = make_overconfident(agents, weak, overconfidence)
    out: dict = {"weak": weak, "agents": (agents, bad)}
    params, shares = [], []
    for name, a in (("aligned", agents), ("misaligned", bad)):
        W, s = fj_parameters(a, **(mapping or {}))
        out[name] = compare_methods(a, W, s)
        params.append((W, s))
        shares.append(influence_share(routing_matrix(W, s)))
    out["params"], out["share"] = tuple(params), tuple(shares)
    return out


def fit_experiment(run: dict, n_fit: int, rounds: int, noise: float, seed: int = 0) -> dict:
    """Observe `rounds` noisy FJ rounds of the first `n_fit` questions of a `routing_experiment` run
    (the calibrated agents), fit FJ per question (`relml.dynamics.fitting.fit_fj`) and compare.

    Returns the fit, its "errors" (mean |ŝ − s|, mean |Â − A|), "corr_s" (Pearson of ŝ and s),
    "eta2" (share of the fitted stubbornness's variance explained by the topic, mean over agents),
    "eta2_static" (the same for a control whose FJ parameters are the question-average, i.e. not
    input dependent), "share" / "share_fit" (planted and fitted influence shares), "topic", the
    planted "s" and "movement", the mean |x(t+1) − x(t)| of the observed beliefs (the signal).
    """
    agents, (W, s) = run["agents"][0], run["params"][0]
    sub = slice(0, n_fit)
    W, s, x0, topic = W[sub], s[sub], agents.x0[sub], agents.topic[sub]
    rng = np.random.default_rng(seed)
    traj = fitting.simulate_trajectories(W, s, x0, rounds, noise=noise, seed=rng)
    fit = fitting.fit_fj(traj)
    Ws, ss = W.mean(0), s.mean(0)
    static = fitting.fit_fj(fitting.simulate_trajectories(Ws, ss, x0, rounds, noise=noise, seed=rng))
    return {"fit": fit, "errors": fitting.parameter_errors(fit, W, s),
            "corr_s": float(np.corrcoef(fit.s.ravel(), s.ravel())[0, 1]),
            "eta2": float(fitting.topic_variance_explained(fit.s, topic).mean()),
            "eta2_static": float(fitting.topic_variance_explained(static.s, topic).mean()),
            "share": run["share"][0][sub], "share_fit": influence_share(fit.influence()), "topic": topic,
            "s": s, "movement": float(np.abs(np.diff(traj, axis=-3)).mean())}
