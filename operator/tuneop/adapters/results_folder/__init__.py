"""The results folder a local run writes and every reader reads: its files, its claim, its logs."""

__all__: list[str] = []
