"""Form helpers shared by every domain's pages."""

from flask import flash
from flask_wtf import FlaskForm
from wtforms import FieldList, FormField, PasswordField, SelectChoice

from timebank.core.errors import DomainError, PermissionDenied


class Form(FlaskForm):
    """Base form; strips surrounding whitespace from every field but passwords."""

    class Meta:
        def bind_field(self, form, unbound_field, options):
            filters = unbound_field.kwargs.get("filters", [])
            # Lists of subforms strip in their own fields; passwords are kept as typed.
            if not issubclass(unbound_field.field_class, (PasswordField, FieldList, FormField)):
                filters = [*filters, _strip]
            return unbound_field.bind(form=form, filters=filters, **options)

    def fail(self, exc: DomainError) -> None:
        """Show a service's refusal beside the field it names, or at the top of the page.

        A permission refusal is not a form mistake: it answers with the 403 page.
        """
        if isinstance(exc, PermissionDenied):
            raise exc
        if exc.fields:
            for name, messages in exc.fields.items():
                field = getattr(self, name, None)
                if field is not None and hasattr(field, "errors"):
                    field.errors = [*field.errors, *messages]
                else:
                    flash(" ".join(messages), "error")
            return
        field = getattr(self, exc.field, None) if exc.field else None
        if field is not None:
            field.errors = [*field.errors, str(exc.message)]
        else:
            flash(str(exc.message), "error")


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def options(pairs, group: str | None = None) -> list[SelectChoice]:
    """(value, label) pairs, or {group: pairs}, as WTForms select choices."""
    if isinstance(pairs, dict):
        return [choice for name, items in pairs.items() for choice in options(items, name)]
    return [SelectChoice(str(value), str(label), optgroup=group) for value, label in pairs]
