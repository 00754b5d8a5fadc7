"""API shapes for projects, what they link, and their evaluation reports."""

import marshmallow as ma

from timebank.core.api import PageArgsSchema, Schema, page_schema
from timebank.events.models import EventState
from timebank.volunteers.identity import mask_phone


def _money(**kwargs):
    return ma.fields.Decimal(places=2, as_string=True, **kwargs)


class ProjectSchema(Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    description = ma.fields.String()
    region_id = ma.fields.Integer()
    station_id = ma.fields.Integer(allow_none=True)
    organization_id = ma.fields.Integer(allow_none=True)
    organizer = ma.fields.Function(lambda p: (p.station or p.organization).name)
    starts_on = ma.fields.Date()
    ends_on = ma.fields.Date()
    funding_source = ma.fields.String()
    funding_fen = ma.fields.Integer()
    created_at = ma.fields.DateTime()


ProjectPageSchema = page_schema(ProjectSchema, "ProjectPage")


class ProjectQuerySchema(PageArgsSchema):
    pass


class ProjectCreateSchema(Schema):
    name = ma.fields.String(required=True)
    description = ma.fields.String(load_default="")
    starts_on = ma.fields.Date(required=True, metadata={"description": "first local day"})
    ends_on = ma.fields.Date(required=True, metadata={"description": "last local day"})
    funding_source = ma.fields.String(load_default="", metadata={"example": "福彩公益金"})
    funding_fen = ma.fields.Integer(
        strict=True, load_default=0, metadata={"description": "funding in fen (1 yuan = 100)"}
    )
    station_id = ma.fields.Integer(
        load_default=None, allow_none=True, metadata={"description": "or give organization_id"}
    )
    organization_id = ma.fields.Integer(load_default=None, allow_none=True)


class ProjectUpdateSchema(Schema):
    name = ma.fields.String()
    description = ma.fields.String()
    starts_on = ma.fields.Date()
    ends_on = ma.fields.Date()
    funding_source = ma.fields.String()
    funding_fen = ma.fields.Integer(strict=True)


class EventLinkSchema(Schema):
    event_id = ma.fields.Integer(strict=True, required=True)


class StoreLinkSchema(Schema):
    store_id = ma.fields.Integer(strict=True, required=True)


class LinkedEventSchema(Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    starts_at = ma.fields.DateTime()
    ends_at = ma.fields.DateTime()
    state = ma.fields.String(metadata={"enum": [s.value for s in EventState]})


class LinkedStoreSchema(Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    region_id = ma.fields.Integer()
    station_id = ma.fields.Integer(allow_none=True)


class ProjectLinksSchema(Schema):
    linked = ma.fields.List(ma.fields.Nested(LinkedEventSchema))
    candidates = ma.fields.List(
        ma.fields.Nested(LinkedEventSchema),
        metadata={"description": "the organizer's events in the period, not linked yet"},
    )


class ProjectStoresSchema(Schema):
    linked = ma.fields.List(ma.fields.Nested(LinkedStoreSchema))
    candidates = ma.fields.List(
        ma.fields.Nested(LinkedStoreSchema),
        metadata={"description": "stores in the project's region, not linked yet"},
    )


class MediaReportCreateSchema(Schema):
    title = ma.fields.String(required=True)
    outlet = ma.fields.String(load_default="")
    url = ma.fields.String(load_default="", metadata={"description": "http:// or https://"})
    published_on = ma.fields.Date(required=True)


class MediaReportSchema(Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    outlet = ma.fields.String()
    url = ma.fields.String()
    published_on = ma.fields.Date()


class BeneficiaryCreateSchema(Schema):
    name = ma.fields.String(required=True)
    phone = ma.fields.String(required=True, metadata={"description": "mainland mobile"})
    note = ma.fields.String(load_default="")


class BeneficiarySchema(Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    phone = ma.fields.Function(
        lambda b: mask_phone(b.phone), metadata={"description": "masked: 138****0001"}
    )
    note = ma.fields.String()


class BeneficiaryImportSchema(Schema):
    text = ma.fields.String(
        required=True,
        metadata={"description": 'lines of "name,phone[,note]"; all are added or none'},
    )


class ImportResultSchema(Schema):
    added = ma.fields.Integer()
    already_listed = ma.fields.Integer()


class EventFiguresSchema(Schema):
    event_id = ma.fields.Integer()
    title = ma.fields.String()
    day = ma.fields.Date(metadata={"description": "local date of the start"})
    state = ma.fields.String()
    people_times = ma.fields.Integer()
    minutes = ma.fields.Integer()
    hours = _money()


class MediaItemSchema(Schema):
    title = ma.fields.String()
    outlet = ma.fields.String()
    url = ma.fields.String()
    published_on = ma.fields.Date()


class ReportSchema(Schema):
    project_id = ma.fields.Integer()
    name = ma.fields.String()
    organizer = ma.fields.String()
    region = ma.fields.String()
    starts_on = ma.fields.Date()
    ends_on = ma.fields.Date()
    funding_source = ma.fields.String()
    funding_fen = ma.fields.Integer()
    funding_yuan = _money()
    services_held = ma.fields.Integer(metadata={"description": "linked events finished"})
    people_times = ma.fields.Integer(
        metadata={"description": "approved service records still credited, not supplements"}
    )
    volunteer_minutes = ma.fields.Integer()
    volunteer_hours = _money()
    volunteers = ma.fields.Integer(metadata={"description": "distinct volunteers"})
    beneficiaries = ma.fields.Integer(
        metadata={"description": "distinct people: the list and residents who redeemed"}
    )
    listed_beneficiaries = ma.fields.Integer()
    redeeming_residents = ma.fields.Integer()
    donations = ma.fields.Integer()
    donation_value_fen = ma.fields.Integer()
    donation_value_yuan = _money()
    redemptions = ma.fields.Integer()
    redemption_points = ma.fields.Integer()
    redeemed_goods = ma.fields.Integer()
    media_report_count = ma.fields.Integer()
    events = ma.fields.List(ma.fields.Nested(EventFiguresSchema))
    stores = ma.fields.List(ma.fields.String())
    media_reports = ma.fields.List(ma.fields.Nested(MediaItemSchema))
    generated_at = ma.fields.DateTime()
