"""QR rendering (SVG on screen, PNG for print) and the signing key for QR tokens."""

import hashlib
import hmac
import io

import qrcode
import qrcode.image.svg
from flask import current_app


def token_key(purpose: str) -> bytes:
    """A key for one kind of QR token, derived from SECRET_KEY so each purpose has its own."""
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, f"timebank.qr.{purpose}".encode(), hashlib.sha256).digest()


def sign(key: bytes, message: str) -> str:
    """A short MAC (128 bits, base32 without padding) that fits a QR code and a URL."""
    import base64

    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()[:16]
    return base64.b32encode(digest).decode().rstrip("=")


def _qr(data: str) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(data)
    code.make(fit=True)
    return code


def svg(data: str) -> str:
    """An inline SVG that scales to its container (no fixed size, no XML declaration)."""
    image = _qr(data).make_image(image_factory=qrcode.image.svg.SvgPathImage)
    text = image.to_string(encoding="unicode")
    return text.split("?>", 1)[-1].strip()


def png(data: str, box_size: int = 10) -> bytes:
    code = _qr(data)
    code.box_size = box_size
    buffer = io.BytesIO()
    code.make_image(fill_color="black", back_color="white").save(buffer, format="PNG")
    return buffer.getvalue()
