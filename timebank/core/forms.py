"""Form helpers shared by every domain's pages."""

from flask import flash
from flask_wtf import FlaskForm

from timebank.core.errors import DomainError, PermissionDenied


class Form(FlaskForm):
    """Base form; strips surrounding whitespace from every text field."""

    class Meta:
        def bind_field(self, form, unbound_field, options):
            filters = unbound_field.kwargs.get("filters", [])
            filters = [*filters, _strip]
            return unbound_field.bind(form=form, filters=filters, **options)

    def fail(self, exc: DomainError) -> None:
        """Show a service's refusal beside the field it names, or at the top of the page.

        A permission refusal is not a form mistake: it answers with the 403 page.
        """
        if isinstance(exc, PermissionDenied):
            raise exc
        field = getattr(self, exc.field, None) if exc.field else None
        if field is not None:
            field.errors = [*field.errors, str(exc.message)]
        else:
            flash(str(exc.message), "error")


def _strip(value):
    return value.strip() if isinstance(value, str) else value
