"""A token as a request presented it: its value, which token it is, and how it came.

Core code (the session service) decides on it without knowing HTTP; the edge
(``authcore.edge.credentials``) builds it. Standard library only: the authorizer
imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# How it travelled: a browser attaches cookies on its own, never a header or a body.
Via = Literal["bearer", "cookie", "body"]
Kind = Literal["access", "refresh"]


@dataclass(frozen=True, repr=False)
class Credential:
    value: str
    via: Via
    kind: Kind = "access"

    def __repr__(self) -> str:
        # Never the token: a repr ends up in logs and tracebacks.
        return f"Credential(via={self.via!r}, kind={self.kind!r})"
