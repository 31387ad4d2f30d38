"""Shared core of the 86909000 hotline: settings, database models, logging and the `hotline` CLI."""

__version__ = "0.1.0"
