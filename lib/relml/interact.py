"""`explore(fn, **controls)`: live ipywidgets controls in JupyterLab, one static call headless.

`fn` draws a figure from keyword arguments and returns it; `controls` are ipywidgets abbreviations
(`(lo, hi, step)` → slider, a list → dropdown, a bool → checkbox). Live, each change re-runs `fn`.
Headless (papermill, nbval, a static site: `RELML_HEADLESS=1`, or no ipywidgets), `fn` runs once
with its default arguments and the figure stays in the output, so GitHub shows it.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any

import matplotlib.pyplot as plt


def headless() -> bool:
    """True when no live front end can drive widgets."""
    if os.environ.get("RELML_HEADLESS", "").lower() in ("1", "true", "yes"):
        return True
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return True
    shell = get_ipython()
    return shell is None or not hasattr(shell, "kernel")


def defaults(fn: Callable[..., Any], controls: dict[str, Any]) -> dict[str, Any]:
    """The value each control starts at: `fn`'s default for it (required for every control)."""
    sig = inspect.signature(fn)
    unknown = [k for k in controls if k not in sig.parameters]
    if unknown:
        raise TypeError(f"explore: {fn.__name__} has no argument(s) {', '.join(unknown)}")
    missing = [k for k in controls if sig.parameters[k].default is inspect.Parameter.empty]
    if missing:
        raise TypeError(f"explore: give {fn.__name__} a default for {', '.join(missing)} "
                        "(the value shown headless)")
    return {k: sig.parameters[k].default for k in controls}


def explore(fn: Callable[..., plt.Figure | None], **controls: Any) -> Any:
    """Re-run `fn` live under widget `controls`; headless, call it once with its defaults."""
    start = defaults(fn, controls)
    if headless():
        fig = fn(**start)
        plt.show()
        return fig
    import ipywidgets as widgets

    def draw(**kwargs: Any) -> None:
        fn(**kwargs)
        plt.show()

    ui = {k: widgets.interactive.widget_from_abbrev(c, start[k]) for k, c in controls.items()}
    for k, w in ui.items():
        w.description = k
    out = widgets.interactive_output(draw, ui)
    box = widgets.VBox([widgets.HBox(list(ui.values())), out])
    from IPython.display import display

    display(box)
    return box
