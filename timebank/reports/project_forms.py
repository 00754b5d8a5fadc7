"""Forms of the project pages; the services check the rest and report every mistake at once."""

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import (
    DateField,
    DecimalField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from timebank.core.errors import DomainError, ValidationFailed
from timebank.core.forms import Form

REQUIRED = _l("This field is required.")


class ProjectForm(Form):
    organizer = SelectField(_l("Run by"), validate_choice=False)
    name = StringField(_l("Name"), [DataRequired(REQUIRED), Length(max=120)])
    description = TextAreaField(
        _l("Description"), [Optional(), Length(max=5000)], render_kw={"rows": 4}
    )
    starts_on = DateField(_l("First day"), [DataRequired(REQUIRED)])
    ends_on = DateField(_l("Last day"), [DataRequired(REQUIRED)])
    funding_source = StringField(
        _l("Funding source"),
        [Optional(), Length(max=100)],
        render_kw={"placeholder": "福彩公益金"},
    )
    funding_yuan = DecimalField(
        _l("Funding (yuan)"), [Optional(), NumberRange(min=0)], places=2, default=0
    )
    submit = SubmitField(_l("Save"))

    def fail(self, exc: DomainError) -> None:
        # The service speaks of fen; the form asks for yuan.
        if exc.field == "funding_fen" or (exc.fields and "funding_fen" in exc.fields):
            fields = {
                ("funding_yuan" if name == "funding_fen" else name): messages
                for name, messages in (exc.fields or {}).items()
            }
            exc = ValidationFailed(
                exc.message,
                field="funding_yuan" if exc.field == "funding_fen" else exc.field,
                fields=fields or None,
            )
        super().fail(exc)


class LinkEventForm(Form):
    event_id = SelectField(_l("Event"), validate_choice=False)
    submit = SubmitField(_l("Add to the project"))


class LinkStoreForm(Form):
    store_id = SelectField(_l("Love supermarket"), validate_choice=False)
    submit = SubmitField(_l("Add to the project"))


class MediaReportForm(Form):
    title = StringField(_l("Headline"), [DataRequired(REQUIRED), Length(max=200)])
    outlet = StringField(
        _l("Outlet"), [Optional(), Length(max=100)], render_kw={"placeholder": "市民政局公众号"}
    )
    url = StringField(
        _l("Web address"),
        [Optional(), Length(max=500)],
        render_kw={"placeholder": "https://", "inputmode": "url"},
    )
    published_on = DateField(_l("Published on"), [DataRequired(REQUIRED)])
    submit = SubmitField(_l("Add the report"))


class BeneficiaryForm(Form):
    name = StringField(_l("Name"), [DataRequired(REQUIRED), Length(max=64)])
    phone = StringField(
        _l("Mobile number"),
        [InputRequired(REQUIRED), Length(max=20)],
        render_kw={"inputmode": "tel"},
    )
    note = StringField(_l("Note"), [Optional(), Length(max=200)])
    submit = SubmitField(_l("Add"))


class BeneficiaryImportForm(Form):
    lines = TextAreaField(
        _l("Lines of name,phone"),
        [Optional()],
        render_kw={"rows": 5, "placeholder": "王秀英,13912345678\n李建国,13987654321"},
    )
    upload = FileField(_l("or a CSV file (name,phone[,note])"))
    submit = SubmitField(_l("Add them all"))
