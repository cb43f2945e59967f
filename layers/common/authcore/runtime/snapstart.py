"""Lambda SnapStart: what must be redone when a container is restored from a snapshot.

With the template's ``SnapStart=PublishedVersions`` a function's version is initialised
once (its imports and module-level work), snapshotted, and every new container of that
version resumes from the same memory image. Whatever the image holds is then shared by
every container restored from it, so the hooks below redo, per container, what must be
unique to it or would be stale:

- ``random``'s state, which would otherwise produce the same sequence in every container
  (``secrets`` and ``os.urandom``, where every token and secret here comes from, ask the
  kernel at each call and keep no state in the process);
- the cached AWS clients (their connections belong to the container that opened them);
- the hand-signed reads' cached credentials (``authcore.sigv4``);
- whatever the handler module says (the authorizer's runtime: configuration, key ring,
  revocation feed).

Before the snapshot: imports only, the ones the first request would otherwise pay, no
network and no credentials (a snapshot must hold neither). Not the TLS context either
(``transport.tls_context``): making one seeds OpenSSL's random generator, whose state every
restored container would then share (their handshakes' randoms and ephemeral keys). After a
restore, OpenSSL is given fresh entropy, and the context is made anew by the first
connection.

The hooks are registered only under SnapStart (``AWS_LAMBDA_INITIALIZATION_TYPE`` is
``snap-start``) and through the runtime's own ``snapshot_restore_py``, imported then and
only then: elsewhere ``install`` costs one dictionary lookup.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Mapping

SNAPSTART = "snap-start"

Reset = Callable[[], None]


def under_snapstart(env: Mapping[str, str] | None = None) -> bool:
    return (os.environ if env is None else env).get("AWS_LAMBDA_INITIALIZATION_TYPE") == SNAPSTART


def install(
    *resets: Reset, prime: Iterable[str] = (), env: Mapping[str, str] | None = None
) -> bool:
    """Register the restore hooks (and ``resets``, run after the common ones) and the
    priming of ``prime``'s modules before the snapshot. False, and nothing done, outside
    SnapStart or without the runtime's hook module."""
    if not under_snapstart(env):
        return False
    try:
        # The runtime provides it (and only Lambda's Python runtimes): no stubs exist.
        from snapshot_restore_py import (  # type: ignore[import-not-found]
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:
        return False
    register_before_snapshot(import_modules, tuple(prime))
    register_after_restore(after_restore, resets)
    return True


def import_modules(names: Iterable[str]) -> None:
    for name in names:
        importlib.import_module(name)


def after_restore(resets: Iterable[Reset] = ()) -> None:
    """Run once in each restored container, before its first request."""
    # Imported here: none is a dependency of every function's import (this module's
    # import must cost nothing where SnapStart is off).
    import random
    import sys

    from authcore import aws, sigv4

    # No argument: seeded from os.urandom, which differs per container after a restore.
    random.seed()
    # OpenSSL's generator (TLS) reseeds by itself on a fork, not on a restore.
    ssl = sys.modules.get("ssl")
    if ssl is not None:
        ssl.RAND_add(os.urandom(48), 48.0)
    transport = sys.modules.get("authcore.transport")
    if transport is not None:
        transport.forget_tls_context()

    aws.reset_clients()
    sigv4.forget_credentials()
    for reset in resets:
        reset()
