"""The command line: plan, run, summary, watch, crd, and their rendering."""

__all__ = []
