"""The local adapters: worker processes and the results folder."""

__all__ = []
