"""API base: flask-smorest Api/Blueprint/Schema subclasses and the pagination convention."""

import marshmallow as ma
from flask_smorest import Api as _Api
from flask_smorest import Blueprint as _Blueprint

from timebank.core.errors import render_error
from timebank.core.validation import (
    SCHEMA_ERROR_MESSAGES,
    range_error,
    translate_marshmallow_messages,
)

translate_marshmallow_messages()

# Every list endpoint takes ?page=&per_page= and answers this envelope.
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100


class Blueprint(_Blueprint):
    """One per API resource; behaviour every resource shares belongs here."""


class Schema(ma.Schema):
    error_messages = SCHEMA_ERROR_MESSAGES

    class Meta:
        ordered = True
        unknown = ma.RAISE


class ErrorBodySchema(Schema):
    code = ma.fields.String(required=True, metadata={"description": "stable machine code"})
    status = ma.fields.Integer(required=True)
    message = ma.fields.String(required=True, metadata={"description": "in the caller's language"})
    fields = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()))
    request_id = ma.fields.String()


class ErrorSchema(Schema):
    error = ma.fields.Nested(ErrorBodySchema, required=True)


class Api(_Api):
    """Routes every HTTP error, API or page, through the one error renderer."""

    # Documents our error shape for every operation's error answers.
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):
        return render_error(error)

    def init_app(self, app, *, spec_kwargs=None):
        super().init_app(app, spec_kwargs=spec_kwargs)
        self.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})


class PageArgsSchema(Schema):
    class Meta:
        unknown = ma.EXCLUDE

    page = ma.fields.Integer(
        load_default=1, validate=ma.validate.Range(min=1, error=range_error(1))
    )
    per_page = ma.fields.Integer(
        load_default=DEFAULT_PER_PAGE,
        validate=ma.validate.Range(min=1, max=MAX_PER_PAGE, error=range_error(1, MAX_PER_PAGE)),
    )


def page_schema(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    """The envelope every list answers with: items plus page, per_page and total."""
    return type(
        name,
        (Schema,),
        {
            "items": ma.fields.List(ma.fields.Nested(item_schema), required=True),
            "page": ma.fields.Integer(required=True),
            "per_page": ma.fields.Integer(required=True),
            "total": ma.fields.Integer(required=True),
        },
    )


def paginate(select, page: int, per_page: int) -> dict:
    """Run a select one page at a time; answers the envelope page_schema describes."""
    from timebank.extensions import db

    pagination = db.paginate(select, page=page, per_page=per_page, error_out=False)
    return {
        "items": pagination.items,
        "page": page,
        "per_page": per_page,
        "total": pagination.total,
    }
