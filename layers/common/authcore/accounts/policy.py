"""What a new password must be (NIST SP 800-63B §5.1.1.2, contract §7).

Length, not composition: 12 to 1024 characters (after NFKC, as they are hashed),
never the account's own username or address, and not a commonly used password.
"Commonly used" is zxcvbn's judgement: its ranked dictionaries (passwords seen in
breaches, common words and names, keyboard walks, dates, repeats, l33t spellings)
estimate how many guesses the password takes; fewer than 10^8 is refused. That is
the check SP 800-63B asks for ("passwords obtained from previous breach corpuses,
dictionary words, repetitive or sequential characters"), not a composition rule.

Checked only where a user chooses a password (change, reset, invitation, sign-up):
a password accepted under an older policy keeps working at login.
"""

from __future__ import annotations

from authcore.accounts.passwords import MAX_PASSWORD_LENGTH, normalize_password
from authcore.errors import WeakPassword

MIN_NEW_PASSWORD_LENGTH = 12
# zxcvbn's matchers are quadratic in the length and it refuses more than 72
# characters: the first 72 decide (a longer password that starts with 72 guessable
# characters is still mostly guessable).
_JUDGED_PREFIX = 72
# zxcvbn's score 3: "safely unguessable: moderate protection from offline
# slow-hash scenario" (guesses >= 10^8).
_MIN_SCORE = 3


def check_new_password(password: str, *, username: str, email: str = "") -> str:
    """The normalised password, or ``WeakPassword`` saying what to change."""
    normalized = normalize_password(password)
    if not MIN_NEW_PASSWORD_LENGTH <= len(normalized) <= MAX_PASSWORD_LENGTH:
        raise WeakPassword(
            f"The password must have {MIN_NEW_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters."
        )
    folded = normalized.casefold()
    own = [value.casefold() for value in (username, email, email.partition("@")[0]) if value]
    if folded in own:
        raise WeakPassword("The password must not be your username or email address.")
    # Imported here: zxcvbn loads its dictionaries (about 40 ms) and only the
    # routes that set a password need them.
    from zxcvbn import zxcvbn

    verdict = zxcvbn(normalized[:_JUDGED_PREFIX], user_inputs=own)
    if verdict["score"] < _MIN_SCORE:
        raise WeakPassword(
            "The password is too easy to guess (a common password, word or pattern):"
            " a few unrelated words make a strong one."
        )
    return normalized
