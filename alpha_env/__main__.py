"""``python -m alpha_env`` runs the command line."""

import sys

from alpha_env.cli import main

sys.exit(main())
