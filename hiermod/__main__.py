"""``python -m hiermod ...``: the command line (see :mod:`hiermod.cli`)."""

from .cli import run

run()
