"""Sub-commands of ``zincfluor`` that live in modules of their own.

Each module defines ``register(app: typer.Typer) -> None``; :mod:`zincfluor.cli` calls them.
Shared pieces (error handling, consoles, option enums) are in :mod:`zincfluor.commands.common`.
"""
