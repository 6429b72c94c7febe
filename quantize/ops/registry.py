"""A back end's handlers, one per IR op: the table that replaces an `if op == ...` chain.

Each back end keeps one `Registry` beside its code (the RTL's stage builders, hls4ml's layer
handlers, FINN's support table) and fills it with `@registry.register("op", ...)` on each handler,
in a module of its own handler package (imported whole with `ops.load_modules`), in the way hls4ml
registers its layers and FINN its backend classes. Looking up an op nobody registered is a
`UnsupportedOp` that names the back end, the node and the op; `missing()` lists the IR's ops a back
end does not handle (the registry tests assert every back end covers every op, or says why not).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from fluorogate.errors import UserError
from fluorogate.quantize.ops.base import OPS

H = TypeVar("H")


class UnsupportedOp(UserError):
    """A back end has no handler for an IR op of the graph (or refuses it, with the reason)."""


class Registry(Generic[H]):
    """IR op name -> this back end's handler for it."""

    def __init__(self, backend: str):
        self.backend = backend
        self._handlers: dict[str, H] = {}

    def register(self, *ops: str) -> Callable[[H], H]:
        """Decorator: the decorated class or function handles IR ops `ops` in this back end."""

        def add(handler: H) -> H:
            for op in ops:
                if op in self._handlers and self._handlers[op] is not handler:
                    raise TypeError(
                        f"{self.backend}: IR op {op!r} has two handlers, "
                        f"{self._handlers[op]!r} and {handler!r}"
                    )
                self._handlers[op] = handler
            return handler

        return add

    def __contains__(self, op: str) -> bool:
        return op in self._handlers

    def get(self, op: str) -> H | None:
        return self._handlers.get(op)

    def lookup(self, node) -> H:
        """The handler of `node`'s op; `UnsupportedOp` naming the node when there is none."""
        handler = self._handlers.get(node.op)
        if handler is None:
            raise UnsupportedOp(
                f"{self.backend}: node {node.name!r} is an IR {node.op!r}, which this back end "
                f"does not implement (it handles {', '.join(sorted(self._handlers))})"
            )
        return handler

    def ops(self) -> list[str]:
        return sorted(self._handlers)

    def missing(self) -> list[str]:
        """The IR's ops (every registered op class) without a handler here."""
        return sorted(set(OPS) - set(self._handlers))
