import re
from pathlib import Path

from relml import papers

REPO = Path(__file__).resolve().parents[1]
SLUGS = """sparseopt dtsne random_pruning gat_balance lottery_activations lottery_convres mas_moe
mask_mirror never_saddle risotto stubborn_neighbors horst moe_noise score_merging mola faf
lrr_signs spectral_pruning comfy mirror_regularization confounding_shift sign_in graphon
nanoadam ham sculpt gate dash plant_n_seek universal_tickets nonzero_biases ctmc cascades
relu_isometry""".split()  # noqa: SIM905


def test_registry_holds_the_34_papers_of_the_design():
    assert list(papers.PAPERS) == SLUGS


def test_every_entry_is_complete():
    for p in papers.PAPERS.values():
        assert p.title and p.authors and 2015 <= p.year <= 2026 and p.topics
        assert p.status in ("ready", "planned")
        assert p.arxiv is None or re.fullmatch(r"\d{4}\.\d{4,5}", p.arxiv)


def test_ready_papers_have_notebooks_and_planned_ones_do_not():
    for p in papers.PAPERS.values():
        assert p.notebook.exists() == (p.status == "ready"), p.slug


def test_readme_table_is_in_sync_with_the_registry():
    readme = (REPO / "README.md").read_text()
    assert papers.markdown_table() in readme, "README's paper table is stale: paste `relml list --markdown`"


def test_unknown_slug_names_the_known_ones():
    try:
        papers.get("nope")
    except KeyError as err:
        assert "random_pruning" in str(err)
    else:
        raise AssertionError("no error")
