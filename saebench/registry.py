"""A small generic name -> object registry with did-you-mean errors and freezing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from saebench.errors import UnknownNameError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects. Duplicate names are rejected; unknown names get suggestions."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, T] = {}
        self._frozen = False

    def add(self, name: str, item: T) -> T:
        if self._frozen:
            raise RuntimeError(f"The {self.what} registry is frozen; cannot add {name!r}.")
        if name in self._items:
            raise ValueError(f"A {self.what} named {name!r} is already registered.")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(did_you_mean(name, self._items, self.what)) from None

    def freeze(self) -> None:
        self._frozen = True

    def names(self) -> list[str]:
        return sorted(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        yield from sorted(self._items.items())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)
