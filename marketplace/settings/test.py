"""Tests: PostgreSQL and Redis started by scripts/test (DATABASE_URL, REDIS_URL)."""

import os

from .base import *  # noqa: F403
from .base import MARKETPLACE, MIDDLEWARE, REST_FRAMEWORK

DEBUG = False
SECRET_KEY = "test-only-secret"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
ALLOWED_HOSTS = ["*"]
# Static files come from the finders in tests (live_server serves them); no collectstatic needed.
MIDDLEWARE = [m for m in MIDDLEWARE if not m.startswith("whitenoise")]
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": None, "user": None}}
MARKETPLACE = {**MARKETPLACE, "GIG_MIN_DESCRIPTION_CHARS": 40}
LOGGING = {"version": 1, "disable_existing_loggers": False}
