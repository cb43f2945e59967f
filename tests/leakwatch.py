"""Watch every output channel of a test for secrets that passed through a handler.

A handler wrapped by `LeakWatch.wrap` reports the secrets it saw: passwords (and anything
else in a secret field, or in the query string) of every request, the access and refresh
tokens of every answer, and every cookie value either way. At the end of the test, none may
appear in:

- the Powertools logger's own JSON lines (formatted by its registered formatter, extras
  included): its stream handler is bound at import time to whatever `sys.stdout` was then,
  which pytest's capfd does not see, so a twin handler writes them here;
- every `logging` record of any logger (message, arguments and extra attributes), at DEBUG
  for the root and the Powertools logger alike (set through caplog, which restores them),
  except botocore, held at INFO: at DEBUG it logs whole requests and responses, and a KMS
  Sign request and response are an access token's signing input and its signature (and a
  GetItem response holds a password hash). Lambda leaves it at WARNING; never lower it;
- file descriptors 1 and 2 (capfd: `print`, the metrics' EMF documents, C extensions).

Secrets shorter than 8 characters are not watched (they would match by accident), and each
secret is also looked for in its JSON-escaped forms. For tokens, a fragment is a leak too:
any 24 characters of a refresh token's secret part or of an access token's signature
(16-character windows, 8 apart). The rest is not secret: the sid, the JWT header, and the
claims, which botocore at DEBUG logs as the message of the KMS Sign request.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
from typing import Any
from urllib.parse import parse_qsl

SECRET_FIELDS = frozenset({"password", "refresh_token", "access_token"})
MIN_SECRET_LENGTH = 8
WINDOW, STEP = 16, 8


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is still scanned, through its repr
            message = repr(record.msg)
        self.lines.append(f"{message} {record.args!r} {record.__dict__!r}")


class _JsonLines(logging.Handler):
    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class LeakWatch:
    def __init__(self, capfd: Any, caplog: Any, powertools_logger: Any) -> None:
        self._capfd = capfd
        self.secrets: set[str] = set()
        self.fragments: dict[str, str] = {}  # fragment -> the token it belongs to
        self.transcript: list[str] = []
        self._records = _Recorder()
        self._json = _JsonLines(powertools_logger.registered_formatter)
        self._powertools = logging.getLogger(powertools_logger.name)
        caplog.set_level(logging.DEBUG)
        caplog.set_level(logging.DEBUG, logger=powertools_logger.name)
        caplog.set_level(logging.INFO, logger="botocore")
        logging.getLogger().addHandler(self._records)
        self._powertools.addHandler(self._json)

    def close(self) -> None:
        logging.getLogger().removeHandler(self._records)
        self._powertools.removeHandler(self._json)

    # ------------------------------------------------------------ secrets
    def note(self, value: Any) -> None:
        if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
            self.secrets.add(value)

    def note_token(self, token: Any) -> None:
        """A refresh token (sid.secret) or an access token (header.payload.signature)."""
        if not isinstance(token, str):
            return
        self.note(token)
        secret = token.rsplit(".", 1)[-1]  # the refresh secret, or the JWS signature
        for start in range(0, len(secret) - WINDOW + 1, STEP):
            self.fragments[secret[start : start + WINDOW]] = token

    def _note_fields(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        for key, value in pairs:
            if key in SECRET_FIELDS:
                self.note(value)
        return dict(pairs)

    def note_request(self, event: dict[str, Any]) -> None:
        for _, value in parse_qsl(event.get("rawQueryString") or ""):
            self.note(value)
        for value in (event.get("queryStringParameters") or {}).values():
            self.note(value)
        for cookie in event.get("cookies") or []:
            self.note(cookie.partition("=")[2])
        body = event.get("body")
        if not isinstance(body, str):
            return
        if event.get("isBase64Encoded"):
            try:
                body = base64.b64decode(body).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                return
        # Every occurrence of a secret field counts, duplicates included.
        with contextlib.suppress(ValueError, RecursionError):
            json.loads(body, object_pairs_hook=self._note_fields)

    def note_response(self, response: dict[str, Any]) -> None:
        body = response.get("body") or ""
        if response.get("isBase64Encoded") and body:
            body = base64.b64decode(body).decode()
        try:
            document = json.loads(body) if body else {}
        except ValueError:
            document = {}
        if isinstance(document, dict):
            for field in ("access_token", "refresh_token"):
                self.note_token(document.get(field))
        for cookie in response.get("cookies") or []:
            self.note_token(cookie.split(";", 1)[0].partition("=")[2])

    def wrap(self, handler: Any) -> Any:
        def watched(event: dict[str, Any], context: Any) -> dict[str, Any]:
            self.note_request(event)
            before = set(self.secrets)
            response: dict[str, Any] = handler(event, context)
            answer = json.dumps(response)
            # A password (or anything the client sent as a secret) never comes back.
            echoed = {s for s in before if any(f in answer for f in _forms(s))}
            assert not echoed, f"a request secret was echoed in the answer: {_masked(echoed)}"
            self.note_response(response)
            return response

        return watched

    # ------------------------------------------------------------ output
    def read(self) -> str:
        """Everything written since the last read (kept for the final scan)."""
        out, err = self._capfd.readouterr()
        chunk = "\n".join([out, err, *self._records.lines, *self._json.lines])
        self._records.lines.clear()
        self._json.lines.clear()
        self.transcript.append(chunk)
        return chunk

    def leaks(self) -> set[str]:
        self.read()
        text = "\n".join(self.transcript)
        found = {s for s in self.secrets if any(form in text for form in _forms(s))}
        found |= {token for fragment, token in self.fragments.items() if fragment in text}
        return found

    def forget(self) -> None:
        self.read()
        self.secrets.clear()
        self.fragments.clear()
        self.transcript.clear()


def _forms(secret: str) -> set[str]:
    return {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
    }


def _masked(secrets: set[str]) -> list[str]:
    return sorted(s[:4] + "…" for s in secrets)
