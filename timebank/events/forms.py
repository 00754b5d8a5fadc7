"""Forms of the event pages. Times are typed in the user's time zone (datetime-local) and
converted to aware UTC by the views; the services check the details and report every
mistake at once, so the forms only parse and bound lengths."""

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    FloatField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from timebank.core.forms import Form, options
from timebank.events.models import Audience, EventCategory, Rounding

REQUIRED = _l("This field is required.")
LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


def _when(label, description=None):
    return DateTimeLocalField(
        label,
        validators=[Optional()],
        format=LOCAL_FORMATS,
        description=description,
    )


class EventForm(Form):
    organizer = SelectField(_l("Organizer"), validate_choice=False)
    title = StringField(_l("Title"), validators=[Length(max=200)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=10_000)])
    category = SelectField(_l("Category"), validate_choice=False)
    address = StringField(_l("Place"), validators=[Optional(), Length(max=200)])
    starts_at = _when(_l("Starts"))
    ends_at = _when(_l("Ends"))
    capacity = IntegerField(
        _l("Places"), validators=[Optional()], description=_l("Leave empty for no limit.")
    )
    signup_opens_at = _when(_l("Sign-up opens"), _l("Leave empty to open at once."))
    signup_closes_at = _when(_l("Sign-up closes"), _l("Leave empty to close when the event ends."))
    cancel_before_minutes = IntegerField(
        _l("Volunteers may cancel until (minutes before the start)"),
        validators=[Optional()],
        default=120,
    )
    audience = SelectField(_l("Who may sign up"), validate_choice=False)
    walk_ins = BooleanField(_l("Accept walk-ins (people who turn up without signing up)"))
    rounding = SelectField(_l("How attended time is rounded"), validate_choice=False)
    grace_minutes = IntegerField(
        _l("Grace (minutes)"),
        validators=[Optional()],
        default=15,
        description=_l("Check-in before the start and check-out after the end count this much."),
    )
    max_minutes = IntegerField(
        _l("Most minutes credited per person"),
        validators=[Optional()],
        description=_l("Leave empty for the scheduled time plus grace."),
    )
    latitude = FloatField(_l("Latitude"), validators=[Optional()])
    longitude = FloatField(_l("Longitude"), validators=[Optional()])
    radius_m = IntegerField(
        _l("Check-in radius (metres)"),
        validators=[Optional()],
        description=_l("Scans further away are refused, when the phone shares its location."),
    )
    submit = SubmitField(_l("Save"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.category.choices = options((c.value, c.label) for c in EventCategory)
        self.audience.choices = options((a.value, a.label) for a in Audience)
        self.rounding.choices = options((r.value, r.label) for r in Rounding)


class EventSearchForm(Form):
    """The event list's filters, read from the query string."""

    class Meta:
        csrf = False

    q = StringField(_l("Title"), validators=[Optional(), Length(max=100)])
    category = SelectField(_l("Category"), validate_choice=False)
    region_id = SelectField(_l("Street or community"), validate_choice=False)
    date_from = DateField(_l("From"), validators=[Optional()])
    date_to = DateField(_l("Until"), validators=[Optional()])
    has_room = BooleanField(_l("Places left only"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.category.choices = options(
            [("", _l("All categories"))] + [(c.value, c.label) for c in EventCategory]
        )


class CancelEventForm(Form):
    reason = TextAreaField(
        _l("Why is it cancelled?"),
        validators=[Length(max=500)],
        description=_l("Everyone who signed up sees this."),
    )
    submit = SubmitField(_l("Cancel the event"))


class WalkInForm(Form):
    phone = StringField(
        _l("Volunteer's mobile number"),
        validators=[DataRequired(REQUIRED), Length(max=20)],
        render_kw={"inputmode": "tel", "autocomplete": "off"},
    )
    submit = SubmitField(_l("Add walk-in"))


class ScanForm(Form):
    """The one button on /e/<token>; the browser may fill in where the phone is."""

    seen = HiddenField()
    latitude = HiddenField()
    longitude = HiddenField()


class RejectForm(Form):
    reason = TextAreaField(_l("Reason"), validators=[Length(max=500)])
    submit = SubmitField(_l("Reject"))


class DisputeForm(Form):
    reason = TextAreaField(_l("What is wrong?"), validators=[Length(max=1000)])
    claimed_minutes = IntegerField(
        _l("Minutes you think are right (optional)"),
        validators=[Optional(), NumberRange(min=0, max=24 * 60)],
    )
    submit = SubmitField(_l("Send dispute"))


class ResolveForm(Form):
    decision = SelectField(
        _l("Decision"),
        choices=options(
            [
                ("uphold", _l("Uphold the record as it is")),
                ("correct", _l("Correct the minutes")),
            ]
        ),
    )
    corrected_minutes = IntegerField(
        _l("Corrected minutes"), validators=[Optional(), NumberRange(min=0, max=24 * 60)]
    )
    resolution = TextAreaField(_l("Explanation for the volunteer"), validators=[Length(max=1000)])
    submit = SubmitField(_l("Resolve"))


class StaffEntryForm(Form):
    station_id = SelectField(_l("Station"), validate_choice=False)
    people = TextAreaField(
        _l("Volunteers' mobile numbers"),
        validators=[Length(max=5000)],
        description=_l("One per line."),
        render_kw={"inputmode": "tel", "rows": 5},
    )
    served_on = DateField(_l("Date of service"), validators=[DataRequired(REQUIRED)])
    minutes = IntegerField(_l("Minutes per person"), validators=[DataRequired(REQUIRED)])
    description = TextAreaField(_l("What they did"), validators=[Length(max=2000)])
    reason = TextAreaField(
        _l("Why the hours are logged by hand"),
        validators=[Length(max=1000)],
        description=_l("e.g. the volunteer had no phone and the card was forgotten"),
    )
    submit = SubmitField(_l("Save"))
