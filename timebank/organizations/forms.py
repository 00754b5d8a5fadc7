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
