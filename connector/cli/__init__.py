"""The `cs-connector` command line: run, plan, validate, doctor, serve — and the sandbox demo."""

from connector.cli.app import (
    EXIT_API_BUDGET,
    EXIT_CONFIG,
    EXIT_CREDENTIALS,
    EXIT_FAILED,
    EXIT_LOCKED,
    EXIT_PARTIAL,
    EXIT_UNEXPECTED,
    app,
    main,
)

__all__ = [
    "EXIT_API_BUDGET",
    "EXIT_CONFIG",
    "EXIT_CREDENTIALS",
    "EXIT_FAILED",
    "EXIT_LOCKED",
    "EXIT_PARTIAL",
    "EXIT_UNEXPECTED",
    "app",
    "main",
]
