"""The optional LLM backend: scripted agents, the OpenAI-compatible client, records, config errors."""

import importlib.util
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from relml.data import DataMissing
from relml.dynamics import llm
from relml.dynamics.deliberation import PROXIES, influence_share, routing_matrix
from relml.dynamics.fitting import fit_fj, simulate_trajectories


def scripted_setup(Q=4, n=3, k=4, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.random((Q, n, n)) + 0.1
    W /= W.sum(-1, keepdims=True)
    s = rng.uniform(0.1, 0.7, (Q, n))
    x0 = rng.dirichlet(np.ones(k), size=(Q, n))
    questions = [llm.Question(f"q{i}?", tuple("wxyz"[:k]), answer=i % k, topic=f"t{i % 2}") for i in range(Q)]
    return W, s, x0, questions


def test_scripted_agents_deliberate_like_fj_and_the_fit_recovers_them():
    W, s, x0, questions = scripted_setup()
    conf = np.random.default_rng(1).random((4, 3))
    record = llm.run_deliberation(llm.ScriptedBackend(x0, s, W, confidence=conf), questions, 3, rounds=5)
    assert record.beliefs.shape == (4, 6, 3, 4)
    np.testing.assert_allclose(record.beliefs, simulate_trajectories(W, s, x0, 5), atol=1e-12)
    np.testing.assert_allclose(fit_fj(record.beliefs).s, s, atol=1e-7)
    np.testing.assert_array_equal(record.correct, [0, 1, 2, 3])
    # perceived: each peer's own confidence (the scripted default); diagonal: own
    np.testing.assert_allclose(record.perceived, np.broadcast_to(conf[:, None, :], (4, 3, 3)))
    proxies = record.proxies()
    assert list(proxies) == list(PROXIES)
    np.testing.assert_allclose(proxies[PROXIES[0]], conf)
    summary = llm.summarize_record(record)
    np.testing.assert_allclose(summary["share"], influence_share(routing_matrix(W, s)), atol=1e-6)
    assert set(summary["proxies"]) == set(PROXIES) and "majority vote" in summary["accuracy"]


def test_record_round_trips_through_json(tmp_path):
    W, s, x0, questions = scripted_setup(Q=2)
    record = llm.run_deliberation(llm.ScriptedBackend(x0, s, W), questions, 3, rounds=2, perceive=False)
    assert np.isnan(record.perceived[0, 0, 1]) and record.perceived[0, 1, 1] == record.confidence[0, 0, 1]
    back = llm.DeliberationRecord.load(record.save(tmp_path / "rec.json"))
    np.testing.assert_array_equal(back.beliefs, record.beliefs)
    np.testing.assert_array_equal(back.perceived, record.perceived)  # NaN survives
    assert back.topics == record.topics and back.rationales == record.rationales


def test_prompts_show_question_options_and_peers():
    q = llm.Question("Capital of France?", ("Rome", "Paris", "Oslo"), answer=1)
    prev = (llm.Message(0, np.array([0.1, 0.8, 0.1]), 0.9, "It is Paris."),
            llm.Message(1, np.array([0.6, 0.2, 0.2]), 0.4, ""))
    system, user = llm.render_turn(llm.Turn(q, 0, 1, 2, 1, prev, persona="You are a geographer."))
    assert "agent 2 of 2" in system and "geographer" in system
    assert "Capital of France?" in user and "B. Paris" in user
    assert "Agent 1: B (confidence 90%). It is Paris." in user and "You: A (confidence 40%)" in user
    _, rate = llm.render_perception(llm.Turn(q, 0, 1, 2, 1, prev), prev[0])
    assert "Agent 1 answered B" in rate


def test_parse_response_variants_and_failures():
    belief, conf, why = llm.parse_response('```json\n{"probabilities": {"A": 2, "b": 1, "C": 1}, '
                                           '"confidence": 80, "rationale": "x"}\n```', 3)
    np.testing.assert_allclose(belief, [0.5, 0.25, 0.25])
    assert conf == pytest.approx(0.8) and why == "x"
    belief, conf, _ = llm.parse_response('{"probabilities": [0.2, 0.8], "confidence": 0.3}', 2)
    np.testing.assert_allclose(belief, [0.2, 0.8])
    assert conf == pytest.approx(0.3)
    for bad in ("no json here", '{"probabilities": [1, 2, 3], "confidence": 50}',
                '{"probabilities": [-1, 2], "confidence": 50}',
                '{"probabilities": [1, 1], "confidence": 400}',
                '{"probabilities": [1, 1]}', '{"probabilities": [1, 1], "confidence": 50'):
        with pytest.raises(llm.BackendError):
            llm.parse_response(bad, 2)
    assert llm.parse_rating('{"confidence": 35}') == pytest.approx(0.35)


def test_unconfigured_backends_say_what_to_set(monkeypatch):
    for var in (llm.ENV_BASE_URL, llm.ENV_MODEL, llm.ENV_API_KEY, llm.ENV_LOCAL_MODEL):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(llm.BackendNotConfigured, match=f"{llm.ENV_BASE_URL} and {llm.ENV_MODEL}"):
        llm.OpenAICompatibleBackend()
    with pytest.raises(llm.BackendNotConfigured, match=llm.ENV_LOCAL_MODEL):
        llm.make_backend("transformers")
    with pytest.raises(ValueError, match="unknown backend"):
        llm.make_backend("carrier-pigeon")


@pytest.mark.skipif(importlib.util.find_spec("transformers") is not None, reason="transformers is installed")
def test_transformers_backend_without_the_package_says_how_to_install():
    with pytest.raises(llm.BackendNotConfigured, match="pip install transformers"):
        llm.TransformersBackend("some/model")


class FakeChat(BaseHTTPRequestHandler):
    """A tiny OpenAI-compatible server: replies with the next canned text, records the requests."""

    replies: list = []
    seen: list = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeChat.seen.append((self.path, self.headers.get("Authorization"), body))
        reply = FakeChat.replies.pop(0)
        if reply is None:
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"boom")
            return
        out = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FakeChat)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    FakeChat.replies, FakeChat.seen = [], []
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()
    srv.server_close()


def test_openai_compatible_backend_talks_to_an_endpoint(server, monkeypatch):
    monkeypatch.setenv(llm.ENV_BASE_URL, server)
    monkeypatch.setenv(llm.ENV_MODEL, "tiny")
    monkeypatch.setenv(llm.ENV_API_KEY, "k123")
    backend = llm.make_backend("openai", retries=1, timeout=10)
    q = llm.Question("2 + 2?", ("3", "4"), answer=1)
    FakeChat.replies = ["I think B",
                        '{"probabilities": {"A": 0.1, "B": 0.9}, "confidence": 90, "rationale": "r"}',
                        '{"confidence": 70}']
    msg = backend.respond(llm.Turn(q, 0, 0, 2, 0))  # the first, unparsable reply is retried
    np.testing.assert_allclose(msg.belief, [0.1, 0.9])
    assert msg.confidence == pytest.approx(0.9) and msg.rationale == "r"
    assert backend.perceive(llm.Turn(q, 0, 1, 2, 0), msg) == pytest.approx(0.7)
    path, auth, body = FakeChat.seen[0]
    assert path == "/v1/chat/completions" and auth == "Bearer k123"
    assert body["model"] == "tiny" and [m["role"] for m in body["messages"]] == ["system", "user"]
    FakeChat.replies = [None]
    with pytest.raises(llm.BackendError, match="HTTP 500"):
        llm.OpenAICompatibleBackend(server, "tiny", retries=0).perceive(llm.Turn(q, 0, 1, 2, 0), msg)


def test_questions_file(tmp_path, monkeypatch):
    monkeypatch.setenv("RELML_DATA", str(tmp_path))
    with pytest.raises(DataMissing, match="questions.jsonl"):
        llm.load_questions()
    (tmp_path / "mas_moe").mkdir()
    rows = [{"question": "a?", "options": ["x", "y"], "answer": 1, "topic": "math"}, {}]
    (tmp_path / "mas_moe" / "questions.jsonl").write_text(json.dumps(rows[0]) + "\n\n")
    qs = llm.load_questions()
    assert qs == [llm.Question("a?", ("x", "y"), 1, "math")]
    (tmp_path / "bad.jsonl").write_text(json.dumps(rows[1]))
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        llm.load_questions(tmp_path / "bad.jsonl")
    with pytest.raises(ValueError, match="answer must index"):
        llm.Question("a?", ("x", "y"), answer=2)
