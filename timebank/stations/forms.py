"""Station form."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional

from timebank.core.forms import Form


class StationForm(Form):
    name = StringField(_l("Name"), [DataRequired(_l("This field is required.")), Length(max=100)])
    region_id = SelectField(_l("Community"), validate_choice=False)
    address = StringField(_l("Address"), [Optional(), Length(max=200)])
    phone = StringField(_l("Phone"), [Optional(), Length(max=20)])
    active = BooleanField(_l("Open"), default=True)
    submit = SubmitField(_l("Save"))
