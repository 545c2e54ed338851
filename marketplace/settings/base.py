"""Settings shared by every environment. Environments differ only through environment variables
and the small modules beside this one (dev, test, production)."""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("MARKETPLACE_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-insecure-key-change-me")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "marketplace",
    "gigs",
    "milestones",
    "payments",
    "disputes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "marketplace.urls"
WSGI_APPLICATION = "marketplace.wsgi.application"
ASGI_APPLICATION = "marketplace.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "marketplace.context_processors.site",
            ],
        },
    },
]

# SQLite in an ignored folder is the embedded default; DATABASE_URL selects PostgreSQL.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process, the worker and beat write to one SQLite file: WAL lets readers go on
    # while one writes, IMMEDIATE takes the write lock when a transaction starts (a deferred one
    # that later needs it fails at once with "database is locked"), and writers wait their turn.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "gigs.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "staticfiles"))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Marketplace <no-reply@marketplace.local>")
if os.environ.get("EMAIL_URL"):
    # smtp://user:password@host:port ; only read when set, so dev/test never need it.
    from urllib.parse import unquote, urlparse

    _mail = urlparse(os.environ["EMAIL_URL"])
    EMAIL_HOST = _mail.hostname or "localhost"
    EMAIL_PORT = _mail.port or 25
    EMAIL_HOST_USER = unquote(_mail.username or "")
    EMAIL_HOST_PASSWORD = unquote(_mail.password or "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", EMAIL_PORT == 587)

# Redis: the Celery broker and result backend, and the cache.
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "marketplace",
    }
}

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
# Beat only triggers sweeps; each sweep finds due rows itself, so a lost message is redone later.
CELERY_BEAT_SCHEDULE = {
    "beat-heartbeat": {"task": "marketplace.tasks.heartbeat_task", "schedule": 30.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "marketplace.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"anon": "120/min", "user": "600/min"},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Milestone Marketplace API",
    "DESCRIPTION": "Gigs with milestone plans, escrow checkout and disputes.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# Marketplace rules (platform settings with defaults; environment variables override them).
MARKETPLACE = {
    "SITE_NAME": os.environ.get("SITE_NAME", "Milestone Marketplace"),
    # Base of the links in emails sent by workers, which have no request to build them from.
    "SITE_URL": os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/"),
    "CURRENCIES": env_list("MARKETPLACE_CURRENCIES", "USD,EUR,GBP"),
    "DEFAULT_CURRENCY": os.environ.get("MARKETPLACE_DEFAULT_CURRENCY", "USD"),
    "GIG_PAGE_SIZE": int(os.environ.get("GIG_PAGE_SIZE", "12")),
    "GIG_MIN_DESCRIPTION_CHARS": int(os.environ.get("GIG_MIN_DESCRIPTION_CHARS", "80")),
    "GIG_MAX_FAQS": 10,
    "GIG_MAX_REQUIREMENTS": 10,
    "PACKAGE_MAX_PRICE_MINOR": int(os.environ.get("PACKAGE_MAX_PRICE_MINOR", "10000000")),
    "PACKAGE_MAX_DELIVERY_DAYS": 365,
    "PACKAGE_MAX_REVISIONS": 99,
    # Milestone plans (Fiverr's own limits are 2-5 milestones, each >= $50, Basic >= $100; these
    # defaults suit smaller gigs and are platform settings).
    "MILESTONES_MIN": int(os.environ.get("MILESTONES_MIN", "2")),
    "MILESTONES_MAX": int(os.environ.get("MILESTONES_MAX", "5")),
    "MILESTONE_MIN_PRICE_MINOR": int(os.environ.get("MILESTONE_MIN_PRICE_MINOR", "500")),
    "BASIC_MIN_TOTAL_MINOR": int(os.environ.get("BASIC_MIN_TOTAL_MINOR", "1000")),
    "MILESTONE_NAME_MAX_CHARS": 80,
    "MILESTONE_DESCRIPTION_MAX_CHARS": 1000,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# Checkout and fees (payments). Basis points: 550 = 5.5 %.
MARKETPLACE.update(
    {
        "CHECKOUT_EXPIRY_MINUTES": int(os.environ.get("CHECKOUT_EXPIRY_MINUTES", "30")),
        "BUYER_SERVICE_FEE_BPS": int(os.environ.get("BUYER_SERVICE_FEE_BPS", "550")),
        "SMALL_ORDER_FEE_MINOR": int(os.environ.get("SMALL_ORDER_FEE_MINOR", "300")),
        "SMALL_ORDER_THRESHOLD_MINOR": int(os.environ.get("SMALL_ORDER_THRESHOLD_MINOR", "10000")),
        "SELLER_COMMISSION_BPS": int(os.environ.get("SELLER_COMMISSION_BPS", "2000")),
    }
)

# Payments: Stripe when a secret key is set, else the local provider (simulated card page).
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
STRIPE_PUBLISHABLE_KEY = os.environ.get("STRIPE_PUBLISHABLE_KEY", "")
STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
STRIPE_CONNECT_WEBHOOK_SECRET = os.environ.get("STRIPE_CONNECT_WEBHOOK_SECRET", "")
PAYMENT_PROVIDER = os.environ.get("PAYMENT_PROVIDER", "stripe" if STRIPE_SECRET_KEY else "local")
WEBHOOK_TOLERANCE_SECONDS = 300
# Prefix of every idempotency key sent to the provider; empty: the random id this database made
# (payments.Installation). Set it to pin one, e.g. per environment sharing a Stripe account.
IDEMPOTENCY_KEY_PREFIX = os.environ.get("IDEMPOTENCY_KEY_PREFIX", "")

CELERY_BEAT_SCHEDULE.update(
    {
        "orders-expire-sweep": {"task": "payments.tasks.orders_expire_sweep_task", "schedule": 60.0},
        "webhook-inbox-sweep": {"task": "payments.tasks.webhook_inbox_sweep_task", "schedule": 60.0},
    }
)

# The milestone lifecycle (issue 5). Timers are settings; the sweeps find due rows every minute.
MARKETPLACE.update(
    {
        "REVIEW_DAYS": int(os.environ.get("REVIEW_DAYS", "3")),
        "REVIEW_REMINDER_HOURS": [48, 24],
        "CLEARANCE_DAYS": int(os.environ.get("CLEARANCE_DAYS", "7")),
        "CANCELLATION_ANSWER_HOURS": int(os.environ.get("CANCELLATION_ANSWER_HOURS", "48")),
        "LATE_CANCEL_HOURS": int(os.environ.get("LATE_CANCEL_HOURS", "24")),
        "PAYOUT_RECONCILE_HOURS": int(os.environ.get("PAYOUT_RECONCILE_HOURS", "24")),
        "UPLOAD_MAX_FILES": int(os.environ.get("UPLOAD_MAX_FILES", "10")),
        "UPLOAD_MAX_BYTES": int(os.environ.get("UPLOAD_MAX_BYTES", str(25 * 1024 * 1024))),
        "UPLOAD_EXTENSIONS": env_list(
            "UPLOAD_EXTENSIONS", "pdf,png,jpg,jpeg,gif,svg,zip,txt,md,doc,docx,xls,xlsx,ppt,pptx,mp3,mp4,mov,psd,ai"
        ),
        "SWEEP_BATCH": int(os.environ.get("SWEEP_BATCH", "500")),
        # The auto-release sweep runs as this many tasks, each on its share of the orders, so a
        # backlog is drained by as many workers side by side (docs/performance.md).
        "SWEEP_SHARDS": int(os.environ.get("SWEEP_SHARDS", "2")),
        # The other party's time to answer a dispute before an admin reviews it.
        "DISPUTE_RESPONSE_DAYS": int(os.environ.get("DISPUTE_RESPONSE_DAYS", "5")),
        # An admin's decision on a dispute with more than this at stake (minor units) waits for a
        # second admin's approval before money moves.
        "DISPUTE_APPROVAL_ABOVE_MINOR": int(os.environ.get("DISPUTE_APPROVAL_ABOVE_MINOR", "50000")),
    }
)

CELERY_BEAT_SCHEDULE.update(
    {
        "auto-release-sweep": {"task": "payments.tasks.auto_release_sweep_task", "schedule": 60.0},
        "payouts-clear-sweep": {"task": "payments.tasks.payouts_clear_sweep_task", "schedule": 60.0},
        "payouts-transfer-drain": {"task": "payments.tasks.payouts_transfer_drain_task", "schedule": 60.0},
        "cancellation-requests-expire-sweep": {
            "task": "payments.tasks.cancellation_requests_expire_sweep_task",
            "schedule": 60.0,
        },
        "refunds-retry-sweep": {"task": "payments.tasks.refunds_retry_sweep_task", "schedule": 60.0},
        "review-reminders-sweep": {"task": "milestones.tasks.review_reminders_sweep_task", "schedule": 60.0},
        "disputes-response-window-sweep": {
            "task": "disputes.tasks.disputes_response_window_sweep_task",
            "schedule": 60.0,
        },
    }
)

# Buyer projects and custom offers (issue 7): an offer stays live this many days unless the seller
# picks another expiry (at most OFFER_MAX_EXPIRY_DAYS); the sweep expires them.
MARKETPLACE.update(
    {
        "OFFER_EXPIRY_DAYS": int(os.environ.get("OFFER_EXPIRY_DAYS", "7")),
        "OFFER_MAX_EXPIRY_DAYS": int(os.environ.get("OFFER_MAX_EXPIRY_DAYS", "30")),
    }
)
CELERY_BEAT_SCHEDULE.update(
    {"offers-expire-sweep": {"task": "milestones.tasks.offers_expire_sweep_task", "schedule": 60.0}}
)
