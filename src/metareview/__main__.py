"""``python -m metareview``: the ``metareview`` console script without installing it."""

from metareview.cli import main

main()
