"""nbval runs the committed notebooks: headless, one thread each, figures outside the tree."""

import os
import tempfile

os.environ.setdefault("RELML_HEADLESS", "1")
os.environ.setdefault("RELML_THREADS", "1")
os.environ.setdefault("RELML_PROGRESS", "0")
os.environ.setdefault("RELML_FIGURES", tempfile.mkdtemp(prefix="relml-nbval-figures-"))
