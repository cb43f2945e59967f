"""``GET /_local/outbox``: the newest account mails of the local stack, for the demo page's
"open the last mail" and for anyone trying forgot -> mail -> reset in a browser.

It exists only in ``make run`` (``python -m infra.local``): template.yaml has no such
route and a deployed stack has no outbox, its mail leaves through Amazon SES. It shows
what the functions wrote to LOCAL_OUTBOX_DIR (``authcore.accounts.mail.OutboxMailer``),
newest first: ``[{"name", "to", "subject", "text", "link"}]``, ``link`` being the first
URL of the text with a path (the reset, verification or invitation link). ``?to=ADDRESS`` keeps the
mails to one address.

The mails hold live reset tokens, so it answers only requests addressed to the stack by
its own name (``Host: localhost:PORT`` or ``127.0.0.1:PORT``): a page of another site that
rebinds its DNS name to 127.0.0.1 reaches the port, but under its own name, and gets 403.
Other origins cannot read the answer anyway (no CORS beyond ALLOWED_ORIGINS).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from infra.local.gateway import Request, Response, gateway_error

OUTBOX_PATH = "/_local/outbox"
NEWEST = 20
_URL = re.compile(r"https?://\S+")
_TRAILING = ".,;:!?)\"'"


def first_link(text: str) -> str | None:
    """The link a reader would follow: the first URL that leads somewhere in the app (a
    path past the origin: the reset, verification or invitation link, or a notice's
    /forgot-password), else the first URL; without the sentence's punctuation."""
    urls = [m.group(0).rstrip(_TRAILING) for m in _URL.finditer(text)]
    for url in urls:
        if url.split("://", 1)[1].partition("/")[2].strip("/#"):
            return url
    return urls[0] if urls else None


def read_mails(directory: Path, to: str | None = None, limit: int = NEWEST) -> list[dict[str, Any]]:
    """The newest mails first (the names sort by time), at most ``limit``; files that are
    not whole mails (a partial write is a dot file) are skipped."""
    try:
        names = sorted(
            (p.name for p in directory.iterdir() if p.suffix == ".json" and p.name[0] != "."),
            reverse=True,
        )
    except OSError:
        return []  # no mail sent yet: the directory is made with the first one
    wanted = to.strip().casefold() if to else None
    mails: list[dict[str, Any]] = []
    for name in names:
        try:
            mail = json.loads((directory / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(mail, dict) or not all(
            isinstance(mail.get(k), str) for k in ("to", "subject", "text")
        ):
            continue
        if wanted is not None and mail["to"].casefold() != wanted:
            continue
        text = mail["text"]
        mails.append(
            {
                "name": name,
                "to": mail["to"],
                "subject": mail["subject"],
                "text": text,
                "link": first_link(text),
            }
        )
        if len(mails) >= limit:
            break
    return mails


@dataclass(frozen=True)
class OutboxPage:
    directory: Path
    port: int

    def serve(self, request: Request) -> Response | None:
        if request.raw_path != OUTBOX_PATH or request.method not in ("GET", "HEAD"):
            return None
        if request.header("host") not in (f"localhost:{self.port}", f"127.0.0.1:{self.port}"):
            return gateway_error(403, "Forbidden")
        to = dict(parse_qsl(request.raw_query)).get("to")
        body = json.dumps(read_mails(self.directory, to), indent=2).encode("utf-8")
        headers = [
            ("Content-Type", "application/json"),
            # Live tokens: kept by no cache, shown to no other page.
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
        ]
        return Response(200, headers, body)
