"""Forms of the ledger's pages: moving hours and points, statements, batches, reversals."""

import re
import uuid

from flask_babel import lazy_gettext as _l
from wtforms import (
    DateField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from timebank.core.forms import Form, options

REQUIRED = _l("This field is required.")
KEY_RE = re.compile(r"^[0-9a-f]{32}$")
MAX_HOURS = 100_000
MAX_BATCH_LINES = 1000

# Stored as the key, shown translated; relations typed elsewhere (the API) show as typed.
RELATIONS = {
    "spouse": _l("Spouse"),
    "father": _l("Father"),
    "mother": _l("Mother"),
    "son": _l("Son"),
    "daughter": _l("Daughter"),
    "grandparent": _l("Grandparent"),
    "grandchild": _l("Grandchild"),
    "sibling": _l("Brother or sister"),
    "other": _l("Other relative"),
}


def relation_label(value: str) -> str:
    return str(RELATIONS.get(value, value))


def new_key() -> str:
    return uuid.uuid4().hex


def _valid_key(_form, field) -> None:
    # Only the shape a rendered form gives: nothing that could reach another caller's keys.
    if not KEY_RE.match(field.data or ""):
        raise ValidationError(_l("The form has expired. Reload the page and try again."))


class LedgerForm(Form):
    """Puts a service's refusal beside the field this form calls by another name."""

    aliases: dict[str, str] = {}

    def fail(self, exc) -> None:
        if exc.field in self.aliases:
            exc.field = self.aliases[exc.field]
        super().fail(exc)


class KeyedForm(LedgerForm):
    """A money-moving form: carries the idempotency key it was rendered with."""

    key = HiddenField(validators=[_valid_key])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_submitted() or not self.key.data:
            self.key.data = new_key()

    def renew_key(self) -> None:
        self.key.data = new_key()


class DurationMixin:
    """An amount of time entered as hours and minutes; stored and posted as minutes."""

    hours = IntegerField(
        _l("Hours"),
        [Optional(), NumberRange(min=0, max=MAX_HOURS)],
        render_kw={"inputmode": "numeric", "min": 0},
    )
    minutes = IntegerField(
        _l("Minutes"),
        [Optional(), NumberRange(min=0, max=MAX_HOURS * 60)],
        render_kw={"inputmode": "numeric", "min": 0},
    )

    @property
    def total_minutes(self) -> int:
        return (self.hours.data or 0) * 60 + (self.minutes.data or 0)


class ConvertForm(DurationMixin, KeyedForm):
    aliases = {"amount": "minutes"}
    preview = SubmitField(_l("Preview"))
    submit = SubmitField(_l("Convert"))


class GiftForm(DurationMixin, KeyedForm):
    aliases = {"amount": "minutes", "relative": "to_user_id"}
    to_user_id = SelectField(_l("To"), validate_choice=False)
    memo = StringField(_l("Message (optional)"), [Optional(), Length(max=200)])
    submit = SubmitField(_l("Gift hours"))


class DonateForm(DurationMixin, KeyedForm):
    aliases = {"amount": "minutes"}
    submit = SubmitField(_l("Donate"))


class FamilyForm(LedgerForm):
    relative = StringField(
        _l("Their mobile number or username"), [DataRequired(REQUIRED), Length(max=64)]
    )
    relation = SelectField(_l("Relation"), [DataRequired(REQUIRED)])
    submit = SubmitField(_l("Declare"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.relation.choices = options([("", "—"), *RELATIONS.items()])


class PeriodForm(Form):
    """The statement's period, read from the query string."""

    class Meta:
        csrf = False

    start = DateField(_l("From"), [Optional()], format="%Y-%m-%d")
    end = DateField(_l("To"), [Optional()], format="%Y-%m-%d")

    def validate_end(self, field) -> None:
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError(_l("The end date is before the start date."))


class AllocationForm(LedgerForm):
    region_id = SelectField(_l("Budget"), validate_choice=False)
    lines = TextAreaField(
        _l("Households"),
        [DataRequired(REQUIRED), Length(max=MAX_BATCH_LINES * 40)],
        render_kw={"rows": 8, "spellcheck": "false", "placeholder": "13800000001, 100"},
    )
    memo = StringField(_l("Memo"), [DataRequired(REQUIRED), Length(max=200)])
    batch_key = HiddenField(validators=[_valid_key])
    preview = SubmitField(_l("Check"))
    submit = SubmitField(_l("Allocate"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_submitted() or not self.batch_key.data:
            self.batch_key.data = new_key()


class ReversalForm(LedgerForm):
    reason = TextAreaField(
        _l("Reason"), [DataRequired(REQUIRED), Length(max=480)], render_kw={"rows": 3}
    )
    submit = SubmitField(_l("Reverse this transaction"))
