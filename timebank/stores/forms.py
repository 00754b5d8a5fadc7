"""Forms of the store pages. Values in yuan are typed with up to two decimals and stored
in fen; the services check the rest and report every mistake at once."""

import uuid
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    FieldList,
    FormField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms import (
    Form as SubForm,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from timebank.core.forms import Form, options
from timebank.stores.models import (
    AdjustmentReason,
    DonorKind,
    Eligibility,
    GoodsCategory,
    LimitPeriod,
)

REQUIRED = _l("This field is required.")


def yuan_to_fen(value: Decimal | None) -> int:
    return int((value or Decimal(0)) * 100)


class StoreForm(Form):
    place = SelectField(_l("Station or community"), validate_choice=False)
    name = StringField(_l("Name"), [DataRequired(REQUIRED), Length(max=100)])
    address = StringField(_l("Address"), [Optional(), Length(max=200)])
    opening_hours = StringField(
        _l("Opening hours"),
        [Optional(), Length(max=200)],
        render_kw={"placeholder": "周二、周五 9:00-11:30"},
    )
    phone = StringField(_l("Phone"), [Optional(), Length(max=20)])
    submit = SubmitField(_l("Save"))


class GoodsForm(Form):
    name = StringField(_l("Name"), [DataRequired(REQUIRED), Length(max=100)])
    category = SelectField(
        _l("Category"), choices=options((c.value, c.label) for c in GoodsCategory)
    )
    unit = StringField(_l("Unit"), [Optional(), Length(max=16)], render_kw={"placeholder": "袋"})
    barcode = StringField(
        _l("Barcode (EAN)"),
        [Optional(), Length(max=32)],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    points_price = IntegerField(_l("Price in points"), [InputRequired(REQUIRED)])
    low_stock = IntegerField(_l("Alert when stock falls to"), [Optional()], default=5)
    limit_quantity = IntegerField(_l("Limit per person"), [Optional()])
    limit_period = SelectField(
        _l("Limit period"),
        choices=options([("", "—")] + [(p.value, p.label) for p in LimitPeriod]),
    )
    eligibility = SelectField(
        _l("Who may redeem it"), choices=options((e.value, e.label) for e in Eligibility)
    )
    active = BooleanField(_l("On the shelf"), default=True)
    photo = FileField(_l("Photo (JPEG or PNG, at most 512 KB)"))
    submit = SubmitField(_l("Save"))


class AdjustForm(Form):
    change = IntegerField(
        _l("Change"),
        [InputRequired(REQUIRED)],
        description=_l("Negative to take stock out (e.g. -2), positive to add."),
    )
    reason = SelectField(
        _l("Reason"), choices=options((r.value, r.label) for r in AdjustmentReason)
    )
    note = StringField(_l("Note"), [Optional(), Length(max=500)])
    submit = SubmitField(_l("Adjust the stock"))


class DonationLineForm(SubForm):
    goods_id = SelectField(_l("Goods"), validate_choice=False)
    new_name = StringField(_l("or new goods"), [Optional(), Length(max=100)])
    new_price = IntegerField(_l("Price in points"), [Optional()])
    quantity = IntegerField(_l("Quantity"), [Optional()])
    value_yuan = DecimalField(_l("Value (yuan)"), [Optional(), NumberRange(min=0)], places=2)


class DonationForm(Form):
    donor_kind = SelectField(_l("Donor"), choices=options((k.value, k.label) for k in DonorKind))
    donor_name = StringField(_l("Donor's name"), [Optional(), Length(max=100)])
    donor_phone = StringField(_l("Donor's phone"), [Optional(), Length(max=20)])
    donated_on = DateField(_l("Date"), [DataRequired(REQUIRED)])
    note = TextAreaField(_l("Note"), [Optional(), Length(max=1000)], render_kw={"rows": 2})
    lines = FieldList(FormField(DonationLineForm), min_entries=6, max_entries=30)
    # Rendered once per form: a double-clicked submit records the donation once.
    key = HiddenField()
    submit = SubmitField(_l("Record the donation"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_submitted() or not self.key.data:
            self.key.data = uuid.uuid4().hex


class CancelForm(Form):
    reason = StringField(_l("Why cancel"), [DataRequired(REQUIRED), Length(max=500)])
    submit = SubmitField(_l("Cancel this redemption"))


class HouseholdForm(Form):
    region_id = SelectField(_l("Community"), validate_choice=False)
    person = StringField(
        _l("Mobile number"),
        [DataRequired(REQUIRED), Length(max=32)],
        render_kw={"inputmode": "tel"},
    )
    reason = StringField(
        _l("Why in difficulty"),
        [Optional(), Length(max=200)],
        render_kw={"placeholder": "低保户、特困供养、残疾人家庭……"},
    )
    monthly_points = IntegerField(_l("Points each month"), [Optional()], default=0)
    submit = SubmitField(_l("Add to the list"))
