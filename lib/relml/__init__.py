"""relml: reproductions of the group's papers, one notebook each, on one shared, tested library."""

from relml import claims, notebook, papers, plotting
from relml.interact import explore

__all__ = ["claims", "explore", "notebook", "papers", "plotting"]
__version__ = "0.1.0"
