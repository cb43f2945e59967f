"""A token as a request presented it: its value, which token it is, and how it came.

Core code (the session service) decides on it without knowing HTTP; the edge
(``authcore.edge.credentials``) builds it. Standard library only: the authorizer
imports it.
"""

from __future__ import annotations

from typing import Literal

from authcore.records import record

# How it travelled: a browser attaches cookies on its own, never a header or a body.
Via = Literal["bearer", "cookie", "body"]
Kind = Literal["access", "refresh"]


@record(repr=False)
class Credential:
    value: str
    via: Via
    kind: Kind = "access"

    def __repr__(self) -> str:
        # Never the token: a repr ends up in logs and tracebacks.
        return f"Credential(via={self.via!r}, kind={self.kind!r})"
