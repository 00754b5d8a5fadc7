"""Forms of the certificate pages: asking for a certificate, and revoking one."""

from flask_babel import lazy_gettext as _l
from wtforms import DateField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import Length, Optional

from timebank.core.forms import Form, options
from timebank.reports.certificates import MAX_PURPOSE_LENGTH, MAX_REASON_LENGTH


class RequestForm(Form):
    """The period and purpose; the service checks the dates and says which one is wrong."""

    period_start = DateField(_l("From"), [Optional()], format="%Y-%m-%d")
    period_end = DateField(_l("To"), [Optional()], format="%Y-%m-%d")
    purpose = StringField(
        _l("Purpose (optional)"),
        [Optional(), Length(max=MAX_PURPOSE_LENGTH)],
        render_kw={"placeholder": "升学、评优、求职"},
    )
    submit = SubmitField(_l("Issue the certificate"))


class RevokeForm(Form):
    reason = TextAreaField(_l("Reason"), [Length(max=MAX_REASON_LENGTH)], render_kw={"rows": 3})
    submit = SubmitField(_l("Revoke"))


class SearchForm(Form):
    class Meta:
        csrf = False

    q = StringField(_l("Name or serial"), [Optional(), Length(max=64)])
    state = SelectField(_l("State"), validate_choice=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Built per request, so the labels are in the reader's language.
        self.state.choices = options(
            [("", _l("Any")), ("valid", _l("Valid")), ("revoked", _l("Revoked"))]
        )
