"""`python -m connector` is the same as `cs-connector`."""

from connector.cli import main

main()
