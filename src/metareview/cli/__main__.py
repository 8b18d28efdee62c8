"""``python -m metareview.cli``: the console script without installing it."""

from metareview.cli import main

main()
