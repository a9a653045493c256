"""Errors raised for bad user input.

Each message names the offending file or config field and says how to fix it.
"""


class SeqlabError(ValueError):
    """Bad user input (config value, data file, checkpoint). One line: what, where, fix."""
