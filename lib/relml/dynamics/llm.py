"""Optional LLM agents for deliberation (Bause, Niederle, Pawelczyk & Burkholz, arXiv 2605.25929).

The paper's experiments let LLM agents deliberate on multiple-choice questions, record each agent's
belief over the options and its self-assessed confidence every round, and the confidence each agent
perceives in the others. This module is the plug for that: a `DeliberationBackend` answers one
agent's turn (`respond`) and rates a peer's confidence (`perceive`); `run_deliberation` drives the
rounds and returns a `DeliberationRecord` (trajectories (Q, T+1, n, k) that `relml.dynamics.fitting`
fits, and the proxies of `relml.dynamics.deliberation`). Records save to JSON, the offline format for
paper-scale runs.

Backends:
- `OpenAICompatibleBackend`: any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, llama.cpp
  server, Ollama, ...), standard library only (urllib). Configure with arguments or the environment:
  RELML_LLM_BASE_URL (e.g. http://localhost:8000/v1), RELML_LLM_MODEL, RELML_LLM_API_KEY (optional).
- `TransformersBackend`: a local Hugging Face causal LM (imported lazily; `pip install transformers`);
  beliefs are the next-token probabilities of the option letters. Model from the argument or
  RELML_LLM_LOCAL_MODEL.
- `ScriptedBackend`: scripted FJ agents (no model), for tests and for checking the pipeline.

Nothing here runs at quick scale: the notebook's simulation does not need a model.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from relml.data.files import data_root, require
from relml.dynamics import deliberation as dl
from relml.dynamics.deliberation import check_deliberation, influence_proxies
from relml.dynamics.fitting import fit_fj

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ENV_BASE_URL, ENV_MODEL, ENV_API_KEY = "RELML_LLM_BASE_URL", "RELML_LLM_MODEL", "RELML_LLM_API_KEY"
ENV_LOCAL_MODEL = "RELML_LLM_LOCAL_MODEL"
QUESTIONS_FILE = "mas_moe/questions.jsonl"


class BackendNotConfigured(RuntimeError):
    """No endpoint or model was given; the message says what to set."""


class BackendError(RuntimeError):
    """The backend failed or answered in a form that could not be parsed."""


# ---------------------------------------------------------------------------------------------
# what an agent sees and says


@dataclass(frozen=True)
class Question:
    """A multiple-choice question: text, options, the correct option's index and a topic (optional)."""

    text: str
    options: tuple[str, ...]
    answer: int | None = None
    topic: str | None = None

    def __post_init__(self) -> None:
        if not 2 <= len(self.options) <= len(LETTERS):
            raise ValueError(f"a question needs 2..{len(LETTERS)} options, got {len(self.options)}")
        if self.answer is not None and not 0 <= self.answer < len(self.options):
            raise ValueError(f"answer must index an option (0..{len(self.options) - 1}), got {self.answer}")


@dataclass(frozen=True)
class Message:
    """One agent's output in one round: belief over the options (k,), confidence in [0, 1], rationale."""

    agent: int
    belief: np.ndarray
    confidence: float
    rationale: str = ""


@dataclass(frozen=True)
class Turn:
    """What agent `agent` is shown in round `round` of question number `index`: the question and every
    agent's message of the previous round (empty in round 0)."""

    question: Question
    index: int
    agent: int
    n_agents: int
    round: int
    previous: tuple[Message, ...] = ()
    persona: str = ""


class DeliberationBackend(ABC):
    """An agent model: `respond` to a turn with a `Message`, `perceive` a peer's confidence."""

    @abstractmethod
    def respond(self, turn: Turn) -> Message:
        """Agent `turn.agent`'s belief, confidence and rationale in `turn.round`."""

    @abstractmethod
    def perceive(self, turn: Turn, peer: Message) -> float:
        """How confident agent `turn.agent` judges `peer` (from its message), in [0, 1]."""


# ---------------------------------------------------------------------------------------------
# prompts and parsing (shared by the model backends)


def render_options(question: Question) -> str:
    return "\n".join(f"{LETTERS[a]}. {o}" for a, o in enumerate(question.options))


def render_turn(turn: Turn) -> tuple[str, str]:
    """(system, user) prompts for an agent's turn; asks for a JSON answer."""
    q, k = turn.question, len(turn.question.options)
    letters = ", ".join(LETTERS[:k])
    system = (f"You are agent {turn.agent + 1} of {turn.n_agents} in a group that deliberates on a "
              "multiple-choice question over several rounds. " + (turn.persona + " " if turn.persona else "")
              + "Answer honestly; change your mind only if the others' arguments convince you.")
    lines = [f"Question: {q.text}", render_options(q), ""]
    if turn.previous:
        lines.append(f"Round {turn.round}. The agents' answers in the previous round:")
        for m in turn.previous:
            who = "You" if m.agent == turn.agent else f"Agent {m.agent + 1}"
            top = LETTERS[int(np.argmax(m.belief))]
            lines.append(f"- {who}: {top} (confidence {round(100 * m.confidence)}%). {m.rationale}".rstrip())
        lines.append("")
    lines.append("Reply with JSON only: {\"probabilities\": {" + ", ".join(f'"{c}": p' for c in LETTERS[:k])
                 + "}, \"confidence\": c, \"rationale\": \"one sentence\"}, where the probabilities over "
                 f"{letters} sum to 1 and c (0-100) is how confident you are in your answer.")
    return system, "\n".join(lines)


def render_perception(turn: Turn, peer: Message) -> tuple[str, str]:
    """(system, user) prompts asking agent `turn.agent` to rate `peer`'s confidence."""
    q = turn.question
    system = f"You are agent {turn.agent + 1} in a group deliberation. Judge your peers' messages."
    user = (f"Question: {q.text}\n{render_options(q)}\n\nAgent {peer.agent + 1} answered "
            f"{LETTERS[int(np.argmax(peer.belief))]}: {peer.rationale or '(no rationale)'}\n\n"
            "How confident does this agent seem? Reply with JSON only: {\"confidence\": c} with c in 0-100.")
    return system, user


def _json_object(text: str) -> dict:
    match = re.search(r"\{.*\}", text, flags=re.S)
    if match is None:
        raise BackendError(f"no JSON object in the model's reply: {text[:200]!r}")
    try:
        obj = json.loads(match.group(0))
    except json.JSONDecodeError as err:
        raise BackendError(f"malformed JSON in the model's reply: {text[:200]!r}") from err
    if not isinstance(obj, dict):
        raise BackendError(f"expected a JSON object, got {type(obj).__name__}")
    return obj


def _fraction(value) -> float:
    c = float(value)
    c = c / 100.0 if c > 1.0 else c
    if not 0.0 <= c <= 1.0:
        raise BackendError(f"confidence must be in 0-100, got {value!r}")
    return c


def parse_response(text: str, n_options: int) -> tuple[np.ndarray, float, str]:
    """(belief (k,), confidence, rationale) from a JSON reply to `render_turn`'s prompt."""
    obj = _json_object(text)
    probs = obj.get("probabilities")
    try:
        if isinstance(probs, dict):
            belief = np.array([float(probs.get(c, probs.get(c.lower(), 0.0))) for c in LETTERS[:n_options]])
        else:
            belief = np.asarray(probs, dtype=float).reshape(-1)
        confidence = _fraction(obj.get("confidence"))
    except (TypeError, ValueError) as err:
        raise BackendError(f"could not read probabilities/confidence from {obj!r}") from err
    ok = belief.shape == (n_options,) and np.all(np.isfinite(belief)) and np.all(belief >= 0)
    if not ok or belief.sum() <= 0:
        raise BackendError(f"probabilities must be {n_options} non-negative numbers, got {probs!r}")
    return belief / belief.sum(), confidence, str(obj.get("rationale", ""))


def parse_rating(text: str) -> float:
    """A confidence rating in [0, 1] from a JSON reply {"confidence": 0-100}."""
    obj = _json_object(text)
    try:
        return _fraction(obj.get("confidence"))
    except (TypeError, ValueError) as err:
        raise BackendError(f"could not read a confidence from {obj!r}") from err


# ---------------------------------------------------------------------------------------------
# backends


class OpenAICompatibleBackend(DeliberationBackend):
    """Agents served by an OpenAI-compatible chat-completions endpoint (urllib only).

    base_url: e.g. "https://api.openai.com/v1" or "http://localhost:8000/v1" (default $RELML_LLM_BASE_URL);
    model: the served model's name (default $RELML_LLM_MODEL); api_key: default $RELML_LLM_API_KEY
    (omitted when empty). A reply that cannot be parsed is retried `retries` times.
    """

    def __init__(self, base_url: str | None = None, model: str | None = None, api_key: str | None = None, *,
                 temperature: float = 0.0, max_tokens: int = 400, timeout: float = 120.0,
                 retries: int = 2) -> None:
        self.base_url = (base_url or os.environ.get(ENV_BASE_URL, "")).rstrip("/")
        self.model = model or os.environ.get(ENV_MODEL, "")
        if not self.base_url or not self.model:
            raise BackendNotConfigured(
                "no OpenAI-compatible endpoint configured: pass base_url= and model= (e.g. "
                "OpenAICompatibleBackend('http://localhost:8000/v1', 'my-model')) or set "
                f"{ENV_BASE_URL} and {ENV_MODEL} (and {ENV_API_KEY} if the endpoint needs a key)")
        self.api_key = api_key if api_key is not None else os.environ.get(ENV_API_KEY, "")
        self.temperature, self.max_tokens = temperature, max_tokens
        self.timeout, self.retries = timeout, retries

    def chat(self, system: str, user: str) -> str:
        """One chat completion; returns the reply's text."""
        body = json.dumps({"model": self.model, "temperature": self.temperature,
                           "max_tokens": self.max_tokens,
                           "messages": [{"role": "system", "content": system},
                                        {"role": "user", "content": user}]}).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(f"{self.base_url}/chat/completions", data=body, headers=headers,
                                         method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                payload = json.loads(reply.read().decode())
        except urllib.error.HTTPError as err:
            raise BackendError(f"{self.base_url} answered HTTP {err.code}: "
                               f"{err.read().decode(errors='replace')[:300]}") from err
        except (urllib.error.URLError, TimeoutError) as err:
            raise BackendError(f"cannot reach {self.base_url}: {err}") from err
        try:
            return payload["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as err:
            raise BackendError(f"unexpected reply from {self.base_url}: {str(payload)[:300]}") from err

    def _ask(self, prompts: tuple[str, str], parse):
        err: BackendError | None = None
        for _ in range(self.retries + 1):
            try:
                return parse(self.chat(*prompts))
            except BackendError as e:
                err = e
        raise err  # type: ignore[misc]

    def respond(self, turn: Turn) -> Message:
        k = len(turn.question.options)
        belief, conf, why = self._ask(render_turn(turn), lambda text: parse_response(text, k))
        return Message(turn.agent, belief, conf, why)

    def perceive(self, turn: Turn, peer: Message) -> float:
        return self._ask(render_perception(turn, peer), parse_rating)


class TransformersBackend(DeliberationBackend):
    """Agents run by a local Hugging Face causal LM (transformers imported on construction).

    The belief is the model's next-token distribution over the option letters after "Answer:", the
    self-assessed and perceived confidences the expected value of a 0-9 rating (next-token
    probabilities of the digits), so no text is generated and nothing needs parsing.
    """

    def __init__(self, model: str | None = None, *, device: str | None = None) -> None:
        name = model or os.environ.get(ENV_LOCAL_MODEL, "")
        if not name:
            raise BackendNotConfigured(f"no local model configured: pass model= (a Hugging Face model id or "
                                       f"folder) or set {ENV_LOCAL_MODEL}")
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as err:
            raise BackendNotConfigured("TransformersBackend needs the transformers package: "
                                       "pip install transformers") from err
        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(name)
        self.model = AutoModelForCausalLM.from_pretrained(name).to(self.device).eval()

    def _prompt(self, system: str, user: str, lead: str) -> str:
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template([{"role": "system", "content": system},
                                            {"role": "user", "content": user}],
                                           tokenize=False, add_generation_prompt=True)
        else:
            text = f"{system}\n\n{user}\n"
        return text + lead

    def _distribution(self, text: str, labels: Sequence[str]) -> np.ndarray:
        """Next-token probabilities of `labels` (each label's first token, with or without a space)."""
        ids = self.tokenizer(text, return_tensors="pt").to(self.device)
        with self.torch.no_grad():
            logits = self.model(**ids).logits[0, -1].float()
        logp = self.torch.log_softmax(logits, -1).cpu().numpy()
        scores = []
        for lab in labels:
            cands = {self.tokenizer.encode(v, add_special_tokens=False)[0] for v in (lab, " " + lab)}
            scores.append(np.logaddexp.reduce([logp[c] for c in cands]))
        p = np.exp(np.array(scores) - np.max(scores))
        return p / p.sum()

    def _rating(self, text: str) -> float:
        p = self._distribution(text, [str(d) for d in range(10)])
        return float(p @ np.arange(10) / 9.0)

    def respond(self, turn: Turn) -> Message:
        system, user = render_turn(turn)
        k = len(turn.question.options)
        user = user.rsplit("\n", 1)[0] + f"\nAnswer with the letter of one option ({', '.join(LETTERS[:k])})."
        belief = self._distribution(self._prompt(system, user, "Answer:"), list(LETTERS[:k]))
        ask = (user + f"\nYou answer {LETTERS[int(belief.argmax())]}. On a scale from 0 (guessing) to 9 "
               "(certain), how confident are you?")
        conf = self._rating(self._prompt(system, ask, "Confidence:"))
        return Message(turn.agent, belief, conf, "")

    def perceive(self, turn: Turn, peer: Message) -> float:
        system, user = render_perception(turn, peer)
        user = (user.rsplit("\n", 1)[0]
                + "\nOn a scale from 0 (guessing) to 9 (certain), how confident does it seem?")
        return self._rating(self._prompt(system, user, "Rating:"))


class ScriptedBackend(DeliberationBackend):
    """Scripted FJ agents: round 0 states x0[q, i]; later rounds x_i = s_i x_i(0) + (1 − s_i) Σ_j W_ij x_j,
    from the beliefs of the previous round's messages. x0 (Q, n, k), s (Q, n), W (Q, n, n); confidence
    (Q, n) (default: the peak of the current belief) and perceived (Q, n, n) (default: the peer's own)."""

    def __init__(self, x0: np.ndarray, s: np.ndarray, W: np.ndarray, confidence: np.ndarray | None = None,
                 perceived: np.ndarray | None = None) -> None:
        self.W, self.s, self.x0 = check_deliberation(W, s, x0)
        self.confidence = None if confidence is None else np.asarray(confidence, dtype=float)
        self.perceived = None if perceived is None else np.asarray(perceived, dtype=float)

    def respond(self, turn: Turn) -> Message:
        q, i = turn.index, turn.agent
        if turn.round == 0:
            belief = self.x0[q, i].copy()
        else:
            peers = np.stack([m.belief for m in sorted(turn.previous, key=lambda m: m.agent)])
            belief = self.s[q, i] * self.x0[q, i] + (1.0 - self.s[q, i]) * self.W[q, i] @ peers
        conf = float(belief.max()) if self.confidence is None else float(self.confidence[q, i])
        return Message(i, belief, conf, "scripted")

    def perceive(self, turn: Turn, peer: Message) -> float:
        if self.perceived is None:
            return float(peer.confidence)
        return float(self.perceived[turn.index, turn.agent, peer.agent])


def make_backend(kind: str, **kwargs) -> DeliberationBackend:
    """"openai" → `OpenAICompatibleBackend(**kwargs)`, "transformers" → `TransformersBackend(**kwargs)`."""
    kinds = {"openai": OpenAICompatibleBackend, "transformers": TransformersBackend}
    if kind not in kinds:
        raise ValueError(f"unknown backend {kind!r}; choose one of {', '.join(kinds)} (or ScriptedBackend)")
    return kinds[kind](**kwargs)


# ---------------------------------------------------------------------------------------------
# running and recording deliberations


@dataclass
class DeliberationRecord:
    """A recorded deliberation: beliefs (Q, T+1, n, k), self-assessed confidence (Q, T+1, n), perceived
    confidence of round 0 (Q, n, n) (perceived[q, i, j]: i's rating of j; diagonal: j's own), correct
    options (Q,) (−1 unknown), topics and rationales (Q lists of T+1 lists of n strings)."""

    beliefs: np.ndarray
    confidence: np.ndarray
    perceived: np.ndarray
    correct: np.ndarray
    topics: list[str | None]
    rationales: list = field(default_factory=list)

    def proxies(self) -> dict[str, np.ndarray]:
        """Self-assessed confidence, perceived confidence and initial alignment (round 0), each (Q, n)."""
        return influence_proxies(self.beliefs[:, 0], self.confidence[:, 0], self.perceived)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"beliefs": self.beliefs.tolist(), "confidence": self.confidence.tolist(),
                "perceived": np.where(np.isnan(self.perceived), -1.0, self.perceived).tolist(),
                "correct": self.correct.tolist(), "topics": self.topics, "rationales": self.rationales}
        path.write_text(json.dumps(data))
        return path

    @classmethod
    def load(cls, path: str | Path) -> DeliberationRecord:
        data = json.loads(Path(path).read_text())
        perceived = np.asarray(data["perceived"], dtype=float)
        return cls(np.asarray(data["beliefs"], dtype=float), np.asarray(data["confidence"], dtype=float),
                   np.where(perceived < 0, np.nan, perceived), np.asarray(data["correct"], dtype=int),
                   list(data["topics"]), list(data.get("rationales", [])))


def run_deliberation(backend: DeliberationBackend, questions: Sequence[Question], n_agents: int, rounds: int,
                     *, personas: Sequence[str] | None = None, perceive: bool = True) -> DeliberationRecord:
    """Let `n_agents` agents of `backend` deliberate `rounds` rounds on each question.

    Every agent answers alone in round 0, then sees all messages of the previous round. With `perceive`,
    every agent rates every peer's round-0 message (n (n − 1) extra calls per question). One backend
    call per agent and round: a loop, since each call is a model query.
    """
    if not questions:
        raise ValueError("need at least one question")
    k = len(questions[0].options)
    if any(len(q.options) != k for q in questions):
        raise ValueError("every question must have the same number of options (beliefs are stacked)")
    if not isinstance(n_agents, (int, np.integer)) or n_agents < 2:
        raise ValueError(f"n_agents must be an integer >= 2, got {n_agents!r}")
    if not isinstance(rounds, (int, np.integer)) or rounds < 0:
        raise ValueError(f"rounds must be a non-negative integer, got {rounds!r}")
    personas = list(personas) if personas is not None else [""] * n_agents
    if len(personas) != n_agents:
        raise ValueError(f"need one persona per agent ({n_agents}), got {len(personas)}")
    Q = len(questions)
    beliefs = np.zeros((Q, rounds + 1, n_agents, k))
    conf = np.zeros((Q, rounds + 1, n_agents))
    perceived = np.full((Q, n_agents, n_agents), np.nan)
    texts = []
    for qi, question in enumerate(questions):
        previous: tuple[Message, ...] = ()
        q_texts = []
        for t in range(rounds + 1):
            msgs = tuple(backend.respond(Turn(question, qi, i, n_agents, t, previous, personas[i]))
                         for i in range(n_agents))
            for m in msgs:
                belief = np.asarray(m.belief, dtype=float)
                if belief.shape != (k,):
                    raise BackendError(f"agent {m.agent} returned a belief of shape {belief.shape}, "
                                       f"not ({k},)")
                beliefs[qi, t, m.agent], conf[qi, t, m.agent] = belief, m.confidence
            q_texts.append([m.rationale for m in msgs])
            if t == 0 and perceive:
                for i in range(n_agents):
                    turn = Turn(question, qi, i, n_agents, 0, msgs, personas[i])
                    for m in msgs:
                        perceived[qi, i, m.agent] = (m.confidence if m.agent == i
                                                     else backend.perceive(turn, m))
            previous = msgs
        texts.append(q_texts)
    if not perceive:
        idx = np.arange(n_agents)
        perceived[:, idx, idx] = conf[:, 0]
    correct = np.array([-1 if q.answer is None else q.answer for q in questions])
    return DeliberationRecord(beliefs, conf, perceived, correct, [q.topic for q in questions], texts)


def load_questions(path: str | Path | None = None) -> list[Question]:
    """Questions from a JSON-lines file, one {"question", "options", "answer", "topic"} object a line
    (default: <data root>/mas_moe/questions.jsonl; absent → relml.data.DataMissing)."""
    path = Path(path) if path is not None else data_root() / QUESTIONS_FILE
    require(path.parent, [path.name], "write one JSON object per line with keys question, options (list), "
                                      "answer (index) and topic, e.g. exported from MMLU")
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out.append(Question(str(row["question"]), tuple(map(str, row["options"])), row.get("answer"),
                                row.get("topic")))
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"{path}:{n}: expected keys question, options, answer, topic ({err})") from err
    return out


def summarize_record(record: DeliberationRecord) -> dict:
    """Fit FJ to a recorded deliberation and measure it: "fit" (`fit_fj` per question), "share" (the
    fitted influence shares (Q, n)), "proxies" (rank correlation of each proxy with the share) and, on
    questions with a known answer, "accuracy" of the final group answer (mean final belief), the mean
    initial belief, majority vote and each agent alone (best of them)."""
    fit = fit_fj(record.beliefs)
    share = dl.influence_share(fit.influence())
    out = {"fit": fit, "share": share, "proxies": dl.proxy_correlations(share, record.proxies())}
    known = record.correct >= 0
    if known.any():
        x0, final, y = record.beliefs[known, 0], record.beliefs[known, -1], record.correct[known]
        out["accuracy"] = {"best single agent": float(dl.agent_accuracies(x0, y).max()),
                           "majority vote": dl.accuracy(dl.majority_votes(x0), y),
                           "uniform average": dl.accuracy(x0.mean(1), y),
                           "deliberation (final mean belief)": dl.accuracy(final.mean(1), y)}
    return out
