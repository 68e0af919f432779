"""Journey-tier fixtures: a user in a fresh folder of their own."""

from __future__ import annotations

from pathlib import Path

import pytest
from user import User


@pytest.fixture
def user(tmp_path: Path) -> User:
    home = tmp_path / "work"
    home.mkdir()
    return User(home)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.journey)
