"""Notebook parameters of `mas_moe` (Bause, Niederle, Pawelczyk & Burkholz 2026, arXiv 2605.25929).

Both scales run the LLM-free simulation of `relml.dynamics.deliberation` (numpy); paper scale keeps the
method and grows the number of questions, fitted trajectories and seeds. The paper's own experiments
deliberate with LLM agents: set LLM_BACKEND to "openai" (an OpenAI-compatible endpoint from
RELML_LLM_BASE_URL / RELML_LLM_MODEL / RELML_LLM_API_KEY) or "transformers" (a local model from
RELML_LLM_LOCAL_MODEL) and put the questions in <data root>/mas_moe/questions.jsonl to run them too.
"""

from relml.notebook import Param, choice, integer, real

PARAMS = {
    "N_AGENTS": Param(5, 5, integer(2, 50),
                      "agents; agent t < N_TOPICS is the expert of topic t, the others are generalists"),
    "N_TOPICS": Param(4, 4, integer(1, 50), "topics (each question has one; competence depends on it)"),
    "N_OPTIONS": Param(4, 4, integer(2, 26), "answer options per question"),
    "N_QUESTIONS": Param(2000, 10_000, integer(10, 1_000_000), "questions per seed in the MoE comparison"),
    "N_FIT": Param(400, 2000, integer(10, 1_000_000),
                   "questions per seed whose noisy trajectories are fitted (at most N_QUESTIONS)"),
    "ROUNDS": Param(5, 5, integer(1, 100), "deliberation rounds observed per question"),
    "TRAJECTORY_NOISE": Param(0.01, 0.01, real(0, 1), "std of the per-round noise on the observed beliefs"),
    "CONFIDENCE_NOISE": Param(0.05, 0.05, real(0, 1), "std of self-assessed confidence around competence"),
    "PERCEPTION_NOISE": Param(0.1, 0.1, real(0, 1), "std of a peer's reading of an agent's confidence"),
    "STUBBORNNESS_MAX": Param(0.9, 0.9, real(0, 1), "s_i = STUBBORNNESS_MAX · c_i^STUBBORNNESS_POWER"),
    "STUBBORNNESS_POWER": Param(2.0, 2.0, real(0, 20), "how sharply stubbornness follows confidence"),
    "TRUST_CONFIDENCE": Param(4.0, 4.0, real(0, 100), "β_c: trust W_ij ∝ exp(β_c c̃_ij + β_a o_ij)"),
    "TRUST_ALIGNMENT": Param(1.0, 1.0, real(0, 100), "β_a: weight of initial agreement o_ij in trust"),
    "OVERCONFIDENCE": Param(0.95, 0.95, real(0, 1), "confidence the overconfident weak agent reports"),
    "SEEDS": Param(5, 20, integer(1, 1000), "seeds SEED, SEED+1, ... (agents, questions, noise)"),
    "LLM_BACKEND": Param("none", "none", choice("none", "openai", "transformers"),
                         "optional LLM agents for section 5 ('none': only the scripted demonstration)"),
}
