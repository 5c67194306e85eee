"""`python -m app.cli`: the `budget-arena` command."""

from app.cli.main import main

main()
