"""A base for the objects stage0 uses in `with` blocks that end by calling their own `close()`
(HTTP clients and bodies, fetchers, tar streams, network-namespace handles, locks, the store):
one copy of `__enter__`/`__exit__` instead of one per class."""

from __future__ import annotations

TYPE_CHECKING = False  # typing's own constant, without importing typing on `rkt run`
if TYPE_CHECKING:
    from typing import Self


class Closing:
    """`with obj:` returns obj and calls `obj.close()` at the end, whatever happened."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
