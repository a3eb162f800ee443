"""`python -m dagster_ext.cli`."""

from dagster_ext.cli import main

main()
