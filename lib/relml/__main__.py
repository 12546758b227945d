import sys

from relml.cli import main

sys.exit(main())
