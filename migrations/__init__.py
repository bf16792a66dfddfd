"""Alembic migrations of the service's database (run them with ``zincfluor db upgrade``)."""
