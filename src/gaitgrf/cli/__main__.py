"""`python -m gaitgrf.cli`: the same command line as the `gaitgrf` script."""

from gaitgrf.cli import app

if __name__ == "__main__":
    app()
