"""Migration revisions, oldest first (file names start with their revision)."""
