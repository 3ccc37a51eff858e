"""The names of the folders and files of a home that more than one part of the project reads.

The export publisher writes them and the nightly report and the CLI read them; neither side
owns the other, so the names sit below both.
"""

from typing import Final

MANIFEST_FILE: Final = "manifest.json"
# Nights the churn guard held back wait here, outside the published nights, for `scrm release`.
HELD_DIR: Final = "held"
