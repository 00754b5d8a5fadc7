"""Password policy: a minimum length and none of the commonest passwords."""

from functools import lru_cache

from flask import current_app
from flask_babel import gettext as _

from timebank.core.errors import ValidationFailed

# Common in Chinese leaks and missing from English-language lists.
CHINESE_COMMON = {
    "woaini1314",
    "5201314",
    "1314520",
    "aini1314",
    "qq123456",
    "a123456789",
    "woaini520",
    "iloveyou1314",
    "88888888",
    "66666666",
    "11223344",
    "abc123456",
    "zhang123",
    "wang123456",
    "li123456",
    "147258369",
    "123456789a",
    "a12345678",
}


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"]) | CHINESE_COMMON


def check_password_policy(password: str, *, field: str = "password", login: str = "") -> None:
    min_length = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < min_length:
        raise ValidationFailed(_("Use at least %(n)d characters.", n=min_length), field=field)
    lowered = password.lower()
    if lowered in common_passwords() or len(set(password)) < 3:
        raise ValidationFailed(_("This password is too common. Choose another."), field=field)
    if login and login.lower() in lowered:
        raise ValidationFailed(_("The password must not contain your login."), field=field)
