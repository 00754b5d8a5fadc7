"""Configuration classes; every setting can be overridden by a TIMEBANK_-prefixed variable."""

import json
import os
from datetime import timedelta

# Values that must never reach production: documentation examples and obvious placeholders.
WEAK_SECRETS = frozenset(
    {"", "dev", "secret", "changeme", "change-me", "password", "test", "timebank", "insecure"}
)
MIN_SECRET_LENGTH = 32


class ConfigError(RuntimeError):
    """The configuration cannot run safely; the message says which setting to fix."""


def _coerce(raw: str, current):
    """Parse an environment string into the type of the setting it overrides."""
    if isinstance(current, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(current, int):
        return int(raw)
    if isinstance(current, timedelta):
        return timedelta(seconds=int(raw))
    if isinstance(current, list | dict):
        return json.loads(raw)
    return raw


def normalise_database_url(url: str) -> str:
    """Point postgres URLs at psycopg 3, whatever spelling the platform hands us."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Config:
    SECRET_KEY: str | None = None
    # Fernet key protecting ID numbers at rest; kept outside the database.
    DATA_KEY: str | None = None
    SQLALCHEMY_DATABASE_URI: str | None = None
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    SQLITE_BUSY_TIMEOUT_MS = 15000

    BABEL_DEFAULT_LOCALE = "zh"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = ["zh", "en"]

    # Sessions: cookie flags, idle and absolute timeouts, no remember-me unless asked.
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    SESSION_COOKIE_NAME = "timebank_session"
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    SESSION_IDLE_TIMEOUT = timedelta(minutes=30)
    SESSION_ABSOLUTE_TIMEOUT = timedelta(hours=12)
    REMEMBER_COOKIE_DURATION = timedelta(days=14)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_ME_ENABLED = False

    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    WTF_CSRF_SSL_STRICT = True

    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_ENABLED = True
    LOGIN_LIMIT_PER_ACCOUNT = "5 per minute; 20 per hour"
    LOGIN_LIMIT_PER_IP = "30 per minute; 300 per hour"

    API_TOKEN_LIFETIME = timedelta(days=30)
    PASSWORD_MIN_LENGTH = 8

    # Volunteers. Registration is public, so it is throttled per address.
    REGISTER_LIMIT_PER_IP = "10 per hour; 50 per day"
    # Bump when the privacy notice changes; each volunteer's consent records the version.
    PRIVACY_NOTICE_VERSION = "2026-11"
    # Hours for one to five stars, unless a region sets its own.
    STAR_THRESHOLDS_HOURS = [100, 300, 600, 1000, 1500]
    # Seconds a volunteer's phone code lasts before it rotates (30 to 60).
    PERSONAL_CODE_SECONDS = 30
    # Largest volunteer import accepted through the upload page; bigger files use the CLI.
    IMPORT_UPLOAD_MAX_BYTES = 10 * 1024 * 1024
    IMPORT_UPLOAD_MAX_ROWS = 20000

    # Events. The kiosk's code rotates every EVENT_CODE_SECONDS; the previous code is
    # still accepted for EVENT_CODE_GRACE_SECONDS after it rotated (a slow camera).
    EVENT_CODE_SECONDS = 30
    EVENT_CODE_GRACE_SECONDS = 15
    # Check-in opens this long before an event starts (poster codes work from then on).
    CHECKIN_OPENS_MINUTES_BEFORE = 60
    # Staff entries (补录) above this many minutes per volunteer need a second staff member.
    STAFF_ENTRY_SECOND_APPROVAL_MINUTES = 240

    # Certificates (志愿服务记录证明). The public verify page and API share this limit.
    CERTIFICATE_VERIFY_LIMIT_PER_IP = "30 per minute; 300 per hour"
    # The issuing system's name printed on certificates; empty: the app's translated name.
    CERTIFICATE_ISSUER_NAME = ""
    # A TrueType CJK font (.ttf/.ttc) embedded in PDFs; empty: known Debian paths, else
    # reportlab's built-in STSong-Light (not embedded, the reader supplies the glyphs).
    CJK_FONT_PATH = ""

    API_TITLE = "Timebank API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"
    # Every operation takes a bearer token (or the session cookie) unless it says otherwise.
    API_SPEC_OPTIONS = {
        "security": [{"bearerAuth": []}],
        "info": {"description": "Timebank: volunteer time bank and love supermarket."},
    }

    LOG_LEVEL = "INFO"
    # Number of reverse proxies in front of the app whose X-Forwarded-* headers to trust.
    # 0 trusts none: the client address is the socket's (right when nothing is in front).
    PROXY_COUNT = 0
    # Expose /_bench/bare, the no-work endpoint benchmarks compare against.
    BENCH_ENDPOINTS = False
    DEMO_ALLOWED = True

    @classmethod
    def load(cls) -> dict:
        """This class's settings, overridden by TIMEBANK_* and DATABASE_URL from the env."""
        settings = {k: getattr(cls, k) for k in dir(cls) if k.isupper()}
        for key, current in settings.items():
            raw = os.environ.get(f"TIMEBANK_{key}")
            if raw is not None:
                settings[key] = _coerce(raw, current)
        url = os.environ.get("TIMEBANK_DATABASE_URL") or os.environ.get("DATABASE_URL")
        if url:
            settings["SQLALCHEMY_DATABASE_URI"] = url
        if settings.get("SQLALCHEMY_DATABASE_URI"):
            settings["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(
                settings["SQLALCHEMY_DATABASE_URI"]
            )
        cls.check(settings)
        return settings

    @classmethod
    def check(cls, settings: dict) -> None:
        """Refuse settings that cannot run; the base class accepts anything."""


class DevelopmentConfig(Config):
    # A development key is generated per instance folder (see timebank.create_app);
    # nothing secret lives in code.
    DEBUG = False
    LOG_LEVEL = "INFO"


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "testing-only-secret-key-not-for-production-0123456789"  # noqa: S105
    DATA_KEY = "dGVzdGluZy1vbmx5LWRhdGEta2V5LTAxMjM0NTY3ODk="
    WTF_CSRF_ENABLED = False
    RATELIMIT_ENABLED = False
    LOG_LEVEL = "WARNING"


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"
    DEMO_ALLOWED = False

    @classmethod
    def check(cls, settings: dict) -> None:
        problems = []
        if not settings.get("SQLALCHEMY_DATABASE_URI"):
            problems.append("DATABASE_URL is not set")
        for key, env in (("SECRET_KEY", "TIMEBANK_SECRET_KEY"), ("DATA_KEY", "TIMEBANK_DATA_KEY")):
            value = settings.get(key) or ""
            if not value:
                problems.append(f"{env} is not set")
            elif value.lower() in WEAK_SECRETS or len(value) < MIN_SECRET_LENGTH:
                problems.append(
                    f"{env} is too weak (use at least {MIN_SECRET_LENGTH} random chars)"
                )
            elif len(set(value)) < 10:
                problems.append(f"{env} is too weak (too few distinct characters)")
        if settings.get("DATA_KEY") and not problems:
            from cryptography.fernet import Fernet

            # Several keys, comma separated, while rotating: the first encrypts.
            try:
                for key in settings["DATA_KEY"].split(","):
                    Fernet(key.strip())
            except (ValueError, TypeError):
                problems.append("TIMEBANK_DATA_KEY is not a Fernet key (32 url-safe base64 bytes)")
        if problems:
            raise ConfigError("Refusing to start in production: " + "; ".join(problems))


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
