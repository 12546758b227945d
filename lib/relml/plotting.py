"""One figure style and one way to save a figure: `savefig(fig, slug, name)`, written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt

REPO = Path(__file__).resolve().parents[2]

STYLE = {
    "figure.figsize": (6.0, 3.6),
    "figure.dpi": 100,
    "savefig.dpi": 110,
    "savefig.bbox": "tight",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "font.size": 9,
    "axes.prop_cycle": mpl.cycler(color=["#1b6ca8", "#e4572e", "#29a36a", "#f3a712", "#7d5ba6",
                                         "#5c5c5c", "#17becf", "#bc80bd"]),
}


def use_style() -> None:
    """Apply the repository's figure style (called by `relml.notebook.setup`)."""
    mpl.rcParams.update(STYLE)


def figures_dir(slug: str) -> Path:
    """figures/<slug>/ in the repository, or $RELML_FIGURES/<slug>/ when that is set."""
    root = Path(os.environ["RELML_FIGURES"]) if os.environ.get("RELML_FIGURES") else REPO / "figures"
    return root / slug


def savefig(fig: plt.Figure, slug: str, name: str, fmt: str = "png") -> Path:
    """Save `fig` as <figures>/<slug>/<name>.<fmt>; a reader never sees a half-written file."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"figure name must be a plain file stem, got {name!r}")
    folder = figures_dir(slug)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.{fmt}"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=f".{fmt}")
    os.close(fd)
    try:
        # no software/date metadata, so the same figure gives the same bytes
        metadata = {"Software": None} if fmt == "png" else {"Creator": None, "CreationDate": None}
        fig.savefig(tmp, format=fmt, metadata=metadata)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a figure is for everyone to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
