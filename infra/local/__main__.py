"""``python -m infra.local``: serve the whole API at http://localhost:$PORT (default 3000),
the demo page at ``/``, and a page of another origin at http://localhost:$OTHER_ORIGIN_PORT
(default PORT + 1; 0 turns it off) for trying cross-site requests by hand.

Environment: PORT, OTHER_ORIGIN_PORT, DEMO_PASSWORD, LOCAL_USERS_FILE, LOCAL_CLIENTS_FILE
(machine clients to create at start, contract §9), LOCAL_ENV_FILE
(where to write the sourceable admin environment, default .local/env), LOCAL_OUTBOX_DIR
(where the account mails go, default .local/outbox/; the newest are at /_local/outbox),
the variables of contract §5 (ACCESS_TOKEN_TTL_SECONDS, SESSION_TTL_SECONDS,
SESSION_IDLE_TTL_SECONDS, REFRESH_REUSE_GRACE_SECONDS, ALLOWED_ORIGINS),
REVOCATION_MAX_LAG_SECONDS (the session-checked authorizer's lag), and of §7 APP_URL
(default: the local origin) and SIGNUP_ENABLED.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import FrameType

from infra.local import PYTHONPATH, ROOT

# The stack itself imports the core (to seed users): put it where Lambda puts it.
for _entry in reversed(PYTHONPATH):
    if str(_entry) not in sys.path:
        sys.path.insert(0, str(_entry))

from infra import template  # noqa: E402
from infra.devkit.environment import isolate  # noqa: E402
from infra.local.gateway import Gateway, http_server  # noqa: E402
from infra.local.outbox import OutboxPage  # noqa: E402
from infra.local.stack import (  # noqa: E402
    LocalStack,
    SetupError,
    walkthrough,
    write_env_file,
)
from infra.local.static import (  # noqa: E402
    demo_site,
    local_pages,
    other_origin_site,
    site_pages,
    static_server,
)

_log_lock = threading.Lock()


def log(line: str) -> None:
    with _log_lock:
        sys.stderr.write(line if line.endswith("\n") else line + "\n")
        sys.stderr.flush()


class _Stop(Exception):
    pass


def _other_origin_port(port: int) -> tuple[int, bool]:
    """The other origin's port, and whether it was asked for explicitly."""
    value = os.environ.get("OTHER_ORIGIN_PORT", "").strip()
    return (int(value), True) if value else (port + 1, False)


def main() -> int:
    port = int(os.environ.get("PORT") or 3000)
    other_port, other_port_explicit = _other_origin_port(port)
    env_file = Path(os.environ.get("LOCAL_ENV_FILE") or ROOT / ".local" / "env")
    isolate()
    stack = LocalStack(port, log)
    server: ThreadingHTTPServer | None = None
    other: ThreadingHTTPServer | None = None
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stopping.is_set():
            return
        stopping.set()
        log(f"[stack] {signal.Signals(signum).name}: shutting down")
        if server is None:
            raise _Stop  # still setting up: unwind through the finally below
        # serve_forever runs in this (the main) thread: stop it from another one.
        threading.Thread(target=server.shutdown, daemon=True).start()
        if other is not None:
            threading.Thread(target=other.shutdown, daemon=True).start()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start()
        os.environ["AWS_ENDPOINT_URL"] = stack.endpoint  # for any client made in-process
        users = stack.seed_users()
        clients = stack.seed_clients()
        authorizer = stack.authorizer()
        route_authorizers = stack.route_authorizers()
        # Not routes of the template: what only `make run` serves.
        pages = local_pages(site_pages(demo_site()), OutboxPage(stack.outbox, port).serve)
        gateway = Gateway(
            template.routes(),
            stack.pools,
            authorizer,
            port,
            log,
            stack.cors,
            pages,
            route_authorizers=route_authorizers,
        )
        admin_env = stack.admin_environment()
        write_env_file(env_file, admin_env)
        try:
            server = http_server(gateway, port, log)
        except OSError as error:
            log(f"[stack] cannot serve on 127.0.0.1:{port}: {error}")
            return 1
        if other_port:
            try:
                other = static_server(other_origin_site(), other_port, log)
            except OSError as error:
                log(f"[stack] cannot serve the other origin on 127.0.0.1:{other_port}: {error}")
                if other_port_explicit:
                    return 1
            else:
                threading.Thread(target=other.serve_forever, daemon=True).start()
        guard = authorizer.function if authorizer else "none"
        for function in sorted({a.function for a in route_authorizers.values()}):
            count = sum(1 for a in route_authorizers.values() if a.function == function)
            guard += f", {function} on {count} route(s)"
        log(f"[stack] moto at {stack.endpoint}; users: {', '.join(users)}; authorizer: {guard}")
        if clients:
            log(f"[stack] machine clients: {', '.join(clients)}")
        log(f"[stack] Lambda API at {stack.lambda_endpoint}; mail to {stack.outbox}")
        sys.stdout.write(
            walkthrough(
                stack.origin,
                bool(os.environ.get("DEMO_PASSWORD")),
                admin_env,
                env_file,
                other_port if other is not None else None,
                stack.outbox,
                clients,
            )
        )
        sys.stdout.flush()
        if not stopping.is_set():
            server.serve_forever()
    except _Stop:
        pass
    except SetupError as error:
        log(f"[stack] {error}")
        return 1
    finally:
        if server is not None:
            server.server_close()
        if other is not None:
            other.server_close()
        stack.stop()
        log("[stack] stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
