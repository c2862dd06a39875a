"""``python -m ase_dipole.cli``: the ``ase-dipole`` command."""

import sys

from ase_dipole.cli import main

sys.exit(main())
