"""zincfluor: find rare fluorescent molecules with long-tailed graph learning."""

__version__ = "0.1.0"
