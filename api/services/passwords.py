"""The password rule, in one place: the API checks it, the website's forms show it."""

from __future__ import annotations

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
PASSWORD_RULE = (
    f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters, not all of them spaces."
)


def password_problem(password: str) -> str | None:
    """What is wrong with ``password`` as a new password, as a sentence; None if fine."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Choose a password of at most {MAX_PASSWORD_LENGTH} characters."
    if len(password) < MIN_PASSWORD_LENGTH or not password.strip():
        return PASSWORD_RULE
    return None
