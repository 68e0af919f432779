"""The composition root: the one package that builds adapters and wires them."""

__all__: list[str] = []
