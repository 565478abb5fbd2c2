"""`python -m ecom.cli`, the same as the `ecom` command."""

from ecom.cli.main import app

app()
