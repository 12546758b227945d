"""Write data/dash_grn/sim350.npz from the DASH simulator's csv files.

Usage: python data/dash_grn/make_compact.py [SOURCE_FOLDER]   (default ../shared/data/dash_grn)
"""

import sys
from pathlib import Path

from relml.bio.grn import SIM350, compact_sim350

if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else here.parents[2] / "shared" / "data" / "dash_grn"
    out = compact_sim350(source, SIM350)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB)")
