"""Organization form."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from timebank.core.forms import Form, options
from timebank.organizations.models import MemberRole, OrganizationKind


class MemberForm(Form):
    login = StringField(
        _l("Mobile number or username"),
        [DataRequired(_l("This field is required.")), Length(max=64)],
    )
    role = SelectField(
        _l("Member role"),
        choices=options((r.value, r.label) for r in MemberRole),
        validate_choice=False,
    )
    submit = SubmitField(_l("Add member"))


class OrganizationForm(Form):
    name = StringField(_l("Name"), [DataRequired(_l("This field is required.")), Length(max=100)])
    kind = SelectField(
        _l("Kind"),
        choices=options((k.value, k.label) for k in OrganizationKind),
        validate_choice=False,
    )
    region_id = SelectField(_l("Region"), validate_choice=False)
    description = TextAreaField(_l("Description"), [Optional(), Length(max=5000)])
    active = BooleanField(_l("Active"), default=True)
    submit = SubmitField(_l("Save"))


class TeamApplicationForm(Form):
    region_id = SelectField(_l("Street or community"), validate_choice=False)
    name = StringField(
        _l("Team name"), [DataRequired(_l("This field is required.")), Length(max=100)]
    )
    description = TextAreaField(_l("What the team will do"), [Optional(), Length(max=5000)])
    submit = SubmitField(_l("Apply"))


class JoinForm(Form):
    message = TextAreaField(_l("Message to the leaders (optional)"), [Optional(), Length(max=500)])
    submit = SubmitField(_l("Ask to join"))


class ReasonForm(Form):
    """Refusing a request: the person who asked reads the reason."""

    reason = TextAreaField(_l("Reason"), [DataRequired(_l("Give the reason.")), Length(max=500)])
    submit = SubmitField(_l("Reject"))


class RoleForm(Form):
    role = SelectField(
        _l("Member role"),
        choices=options((r.value, r.label) for r in MemberRole),
        validate_choice=False,
    )
    submit = SubmitField(_l("Change"))


class TeamSearchForm(Form):
    """The team list's filters, read from the query string."""

    class Meta:
        csrf = False

    q = StringField(_l("Name"), [Optional(), Length(max=100)])
    region_id = SelectField(_l("Region"), validate_choice=False)
