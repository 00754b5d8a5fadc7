"""Forms of the volunteer pages: registration, profile edits, staff decisions, star rules."""

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext
from wtforms import (
    BooleanField,
    DateField,
    PasswordField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from timebank.core.forms import Form, options
from timebank.volunteers.models import DocumentType, Gender, VolunteerStatus

REQUIRED = _l("This field is required.")


class RegistrationForm(Form):
    # Name, number, mobile and community are checked by the service, which reports every
    # mistake at once; the form only bounds lengths.
    name = StringField(_l("Real name"), validators=[Length(max=64)])
    document_type = SelectField(_l("Document type"), default=DocumentType.RESIDENT_ID)
    document_number = StringField(
        _l("Document number"),
        validators=[Length(max=32)],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    birth_date = DateField(_l("Date of birth (other documents only)"), validators=[Optional()])
    gender = SelectField(_l("Gender (other documents only)"), validators=[Optional()])
    phone = StringField(
        _l("Mobile number"),
        validators=[Length(max=20)],
        render_kw={"inputmode": "tel", "autocomplete": "tel"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(REQUIRED), Length(max=128)],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("Password again"),
        validators=[DataRequired(REQUIRED), EqualTo("password", _l("The passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )
    region_id = SelectField(_l("Community"))
    skills = StringField(
        _l("Skills"),
        validators=[Optional(), Length(max=500)],
        description=_l("Separate with commas, e.g. first aid, elderly care, tutoring"),
    )
    availability = StringField(
        _l("When you can serve"),
        validators=[Optional(), Length(max=200)],
        description=_l("e.g. weekends, weekday evenings"),
    )
    guardian_consent = BooleanField(_l("My guardian agrees to my volunteering (under 18)"))
    guardian_name = StringField(_l("Guardian's name (under 14)"), validators=[Length(max=64)])
    guardian_phone = StringField(_l("Guardian's mobile (under 14)"), validators=[Length(max=20)])
    consent = BooleanField(_l("I have read and accept the privacy notice"))
    submit = SubmitField(_l("Register"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.document_type.choices = options((t.value, t.label) for t in DocumentType)
        self.gender.choices = options(
            [("", _l("Not given"))] + [(g.value, g.label) for g in Gender]
        )


class ProfileForm(Form):
    phone = StringField(
        _l("Mobile number"),
        validators=[DataRequired(REQUIRED), Length(max=20)],
        render_kw={"inputmode": "tel"},
    )
    skills = StringField(_l("Skills"), validators=[Optional(), Length(max=500)])
    availability = StringField(_l("When you can serve"), validators=[Optional(), Length(max=200)])
    submit = SubmitField(_l("Save"))


class DecisionForm(Form):
    """Verify, suspend, reinstate: one reason box; suspending and reinstating require it."""

    reason = TextAreaField(_l("Reason"), validators=[Length(max=500)])
    submit = SubmitField(_l("Confirm"))


class RevealForm(Form):
    reason = TextAreaField(
        _l("Why do you need the full number?"),
        validators=[DataRequired(_l("Give the reason.")), Length(max=500)],
    )
    submit = SubmitField(_l("Show the full number"))


class SearchForm(Form):
    class Meta:
        csrf = False

    q = StringField(_l("Name, mobile or last ID digits"), validators=[Optional(), Length(max=64)])
    region_id = SelectField(_l("Community"), validators=[Optional()])
    organization_id = SelectField(_l("Team"), validators=[Optional()])
    status = SelectField(_l("Status"), validators=[Optional()])
    star_level = SelectField(_l("Star level"), validators=[Optional()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.status.choices = options(
            [("", _l("Any"))] + [(s.value, s.label) for s in VolunteerStatus]
        )
        self.star_level.choices = options(
            [("", _l("Any"))]
            + [(str(n), lazy_ngettext("%(num)d star", "%(num)d stars", n)) for n in range(6)]
        )


class StarRuleForm(Form):
    thresholds = StringField(
        _l("Hours for one to five stars"),
        validators=[Optional(), Length(max=64)],
        description=_l("Five numbers, e.g. 100,300,600,1000,1500; empty to use the default"),
    )
    submit = SubmitField(_l("Save"))


class SetPasswordForm(Form):
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(REQUIRED), Length(max=128)],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[DataRequired(REQUIRED), EqualTo("password", _l("The passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField(_l("Set the password"))
