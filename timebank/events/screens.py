"""Screens at the event: the kiosk's rotating code, the printable poster, the staff scanner."""

from flask import Blueprint

bp = Blueprint("event_screens", __name__)
