"""The revocation feed (contract §10): the sessions revoked in the last few minutes,
published as two S3 objects that every authorizer container polls.

- ``document``: the feed's format (a snapshot and a delta), shared by both sides.
- ``publisher``: the writing side, fed by the sessions table's stream
  (``functions/revocation_feed``).
- ``feed``: the reading side, the set an authorizer container keeps and checks.
- ``source``: how the reading side fetches an object (a signed S3 GET, or plain HTTP).

docs/revocation.md, "The revocation feed", tells the why of each choice.
"""
