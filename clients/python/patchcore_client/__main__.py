"""`python -m patchcore_client`: the command-line client."""

import sys

from patchcore_client.cli import main

sys.exit(main())
