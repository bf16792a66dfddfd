"""``python -m zincfluor`` runs the command line, like the ``zincfluor`` script."""

from zincfluor.cli import main

if __name__ == "__main__":
    main()
