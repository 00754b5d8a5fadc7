"""Marshmallow's error messages in the caller's language (they are English constants upstream)."""

import marshmallow as ma
from flask_babel import lazy_gettext as _l


def translate_marshmallow_messages() -> None:
    """Swap marshmallow's default messages for lazy translations, once at import.

    Lazy strings are rendered when an error is shown, so each request sees its own
    language. Validators call .format() on them, which a lazy string supports.
    """
    fields = ma.fields
    fields.Field.default_error_messages.update(
        required=_l("This field is required."),
        null=_l("This field may not be empty."),
        validator_failed=_l("Invalid value."),
    )
    for cls, message in (
        (fields.String, _l("Enter text.")),
        (fields.Integer, _l("Enter a whole number.")),
        (fields.Boolean, _l("Enter true or false.")),
        (fields.DateTime, _l("Enter a date and time.")),
        (fields.Date, _l("Enter a date (YYYY-MM-DD).")),
        (fields.List, _l("Enter a list.")),
        (fields.Dict, _l("Enter an object.")),
        (fields.Email, _l("Enter a valid email address.")),
    ):
        cls.default_error_messages = {**cls.default_error_messages, "invalid": message}
    fields.Nested.default_error_messages = {
        **fields.Nested.default_error_messages,
        "type": _l("Enter an object."),
    }
    validate = ma.validate
    validate.Length.message_min = _l("Use at least {min} characters.")
    validate.Length.message_max = _l("Use at most {max} characters.")
    validate.Length.message_all = _l("Use between {min} and {max} characters.")
    validate.Length.message_equal = _l("Use exactly {equal} characters.")
    validate.OneOf.default_message = _l("Choose one of: {choices}.")


SCHEMA_ERROR_MESSAGES = {
    "unknown": _l("Unknown field."),
    "type": _l("Invalid input type."),
}


def range_error(low: int | None = None, high: int | None = None):
    """A translated message for ma.validate.Range (its default is built from English parts)."""
    if low is not None and high is not None:
        return _l("Enter a number from %(low)s to %(high)s.", low=low, high=high)
    if low is not None:
        return _l("Enter a number of at least %(low)s.", low=low)
    return _l("Enter a number of at most %(high)s.", high=high)
