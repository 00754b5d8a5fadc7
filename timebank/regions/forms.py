"""Form for adding a region under another."""

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional

from timebank.core.forms import Form


class RegionForm(Form):
    parent = SelectField(_l("Inside"), validate_choice=False)
    name = StringField(_l("Name"), [DataRequired(_l("This field is required.")), Length(max=100)])
    code = StringField(_l("Division code"), [Optional(), Length(max=12)])
    submit = SubmitField(_l("Add region"))
