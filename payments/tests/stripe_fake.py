"""A stateful fake of the Stripe API at the SDK's HTTP layer, for driving the real `stripe` SDK
(and so the real StripeGateway) without network:

    fake = FakeStripe()
    client = stripe.StripeClient("sk_test_x", http_client=fake)   # or StripeGateway(..., http_client=fake)

It answers the form-encoded v1 requests the SDK sends with JSON shaped like Stripe's, keeps the
objects in memory, and enforces the rules the marketplace relies on:

- accounts (with capabilities; `update_account` / `complete_onboarding` play the seller finishing
  onboarding), account links;
- payment intents (create, retrieve, cancel; `confirm_payment` plays the buyer paying: the
  intent succeeds with a charge), charges;
- refunds: never more than the charge's unrefunded amount (400 amount_too_large);
- transfers: the destination needs the `transfers` capability active; with a
  `source_transaction` the amount is capped by what that charge has left (amount - refunded -
  already transferred from it; reversals do not free it again, the strict reading); reversals:
  never more than the unreversed amount;
- idempotency: a POST with an Idempotency-Key seen before replays the stored answer when the
  method, path and parameters are the same, and answers 400 idempotency_error otherwise (keys
  are scoped per Stripe-Account, like Stripe). Error answers are stored and replayed too, except
  parameter validation errors (code parameter_*), as Stripe documents. `forget_idempotency_keys`
  plays Stripe's 24 h expiry;
- unknown top-level parameters are refused (400 parameter_unknown), so a misspelt parameter in
  the gateway fails a test rather than being silently ignored;
- disputes (chargebacks): `create_dispute` plays the buyer's bank disputing a charge (the
  amount and a $15 fee withdrawn: charge.dispute.created and .funds_withdrawn), `close_dispute`
  the issuer's decision (won: funds reinstated, fee kept); the API retrieves a dispute and
  updates its evidence (only Stripe's evidence fields; with submit=true it goes under review
  and can no longer be changed: 400 after that, as after it closed);
- outages: `fail_next` makes the next requests answer 500 / 429 or drop the connection, before
  or after doing the work.

Errors use Stripe's JSON error shape, so the SDK raises its real exception classes. Every state
change also appends a Stripe-shaped event to `events` (connected-account events carry
"account"), ready to be signed and posted to the webhook endpoints with `post_event`.
Not modelled: balances and payouts, amounts' minimums, currencies' validity beyond their shape.
"""

import copy
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe
from requests.structures import CaseInsensitiveDict

API_KEY = "sk_test_fake"
WEBHOOK_SECRET = "whsec_test_platform"
CONNECT_WEBHOOK_SECRET = "whsec_test_connect"
CARD_TEST_NUMBER = "4242424242424242"


class StripeFakeError(Exception):
    """An API error the fake answers in Stripe's shape: {"error": {"type", "message", ...}}."""

    def __init__(
        self, status: int, message: str, *, type: str = "invalid_request_error", code: str = "", param: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"type": type, "message": message}
        if code:
            self.body["code"] = code
        if param:
            self.body["param"] = param


@dataclass(frozen=True)
class Request:
    """One request as the fake received it (parameters decoded into nested dicts and lists)."""

    method: str
    path: str
    params: dict
    idempotency_key: str | None
    stripe_account: str | None


@dataclass
class _Failure:
    error: str  # api_error (500), rate_limit (429), connection (APIConnectionError)
    after_processing: bool


@dataclass(frozen=True)
class _Stored:
    """An idempotent result: what was asked, and the answer to replay."""

    method: str
    path: str
    params: dict
    status: int
    body: dict


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _unflatten(pairs: list[tuple[str, str]]) -> dict:
    """Form pairs as the SDK encodes them ("a[b][0][c]=v") back into nested dicts and lists."""
    root: dict = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {key: _lists(value) for key, value in node.items()}
    if items and all(key.isdigit() for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


def _int(params: dict, name: str, *, required: bool = True) -> int | None:
    value = params.get(name)
    if value is None:
        if required:
            raise StripeFakeError(400, f"Missing required param: {name}.", code="parameter_missing", param=name)
        return None
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
        raise StripeFakeError(400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=name)
    return int(value)


def _positive(params: dict, name: str, *, required: bool = True) -> int | None:
    value = _int(params, name, required=required)
    if value is not None and value < 1:
        raise StripeFakeError(
            400, "This value must be greater than or equal to 1.", code="parameter_invalid_integer", param=name
        )
    return value


def _str(params: dict, name: str, *, required: bool = True) -> str:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise StripeFakeError(400, f"Missing required param: {name}.", code="parameter_missing", param=name)
        return ""
    if not isinstance(value, str):
        raise StripeFakeError(400, f"Invalid string: {value}", code="parameter_invalid_string", param=name)
    return value


def _currency(params: dict) -> str:
    currency = _str(params, "currency")
    if not re.fullmatch(r"[a-z]{3}", currency):
        raise StripeFakeError(400, f"Invalid currency: {currency}.", code="parameter_invalid_string", param="currency")
    return currency


def _metadata(params: dict) -> dict:
    metadata = params.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise StripeFakeError(400, "Invalid metadata: must be a hash.", param="metadata")
    return {str(k): str(v) for k, v in metadata.items()}


def _allow(params: dict, *names: str) -> None:
    for name in params:
        if name not in names and name != "expand":
            raise StripeFakeError(400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name)


def _missing(kind: str, object_id: str) -> StripeFakeError:
    return StripeFakeError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param="id")


def _list(url: str, data: list[dict]) -> dict:
    return {"object": "list", "data": data, "has_more": False, "url": url}


class FakeStripe(stripe.HTTPClient):
    """The fake Stripe API (see the module docstring). Thread-safe: one request at a time."""

    name = "fake"

    def __init__(self, api_key: str = API_KEY) -> None:
        super().__init__()
        self.api_key = api_key  # requests must carry it, as Bearer (401 otherwise)
        self.accounts: dict[str, dict] = {}
        self.account_links: list[dict] = []
        self.payment_intents: dict[str, dict] = {}
        self.charges: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.transfers: dict[str, dict] = {}
        self.disputes: dict[str, dict] = {}
        self.events: list[dict] = []
        self.requests: list[Request] = []
        self._transferred: dict[str, int] = {}  # charge id -> amount transferred from it
        self._idempotent: dict[tuple[str, str], _Stored] = {}
        self._failures: list[_Failure] = []
        self._lock = threading.RLock()
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., tuple[int, dict]]]] = [
            ("post", re.compile(r"/v1/accounts"), self._account_create),
            ("get", re.compile(r"/v1/accounts/(?P<id>[^/]+)"), self._account_retrieve),
            ("post", re.compile(r"/v1/account_links"), self._account_link_create),
            ("post", re.compile(r"/v1/payment_intents"), self._payment_intent_create),
            ("get", re.compile(r"/v1/payment_intents/(?P<id>[^/]+)"), self._payment_intent_retrieve),
            ("post", re.compile(r"/v1/payment_intents/(?P<id>[^/]+)/cancel"), self._payment_intent_cancel),
            ("get", re.compile(r"/v1/charges/(?P<id>[^/]+)"), self._charge_retrieve),
            ("post", re.compile(r"/v1/refunds"), self._refund_create),
            ("get", re.compile(r"/v1/refunds"), self._refund_list),
            ("get", re.compile(r"/v1/refunds/(?P<id>[^/]+)"), self._refund_retrieve),
            ("post", re.compile(r"/v1/transfers"), self._transfer_create),
            ("get", re.compile(r"/v1/transfers"), self._transfer_list),
            ("get", re.compile(r"/v1/transfers/(?P<id>[^/]+)"), self._transfer_retrieve),
            ("post", re.compile(r"/v1/transfers/(?P<id>[^/]+)/reversals"), self._reversal_create),
            ("get", re.compile(r"/v1/disputes/(?P<id>[^/]+)"), self._dispute_retrieve),
            ("post", re.compile(r"/v1/disputes/(?P<id>[^/]+)"), self._dispute_update),
        ]

    # --- the SDK's HTTP client interface ---------------------------------------------------------

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        """Answer one request as (body, status, headers), like the SDK's real clients; a dropped
        connection raises stripe.APIConnectionError (retryable), as RequestsClient does."""
        parts = urlsplit(url)
        query = post_data if method == "post" else parts.query
        params = _unflatten(parse_qsl(query or "", keep_blank_values=True))
        headers = CaseInsensitiveDict(headers or {})
        key = headers.get("Idempotency-Key") if method == "post" else None
        account = headers.get("Stripe-Account")
        with self._lock:
            self.requests.append(Request(method, parts.path, params, key, account))
            failure = self._failures.pop(0) if self._failures else None
            if failure is not None and not failure.after_processing:
                return self._fail(failure)
            status, body, replayed = self._answer(method, parts.path, params, headers, key, account)
            if failure is not None:
                return self._fail(failure)
        response_headers = CaseInsensitiveDict({"Content-Type": "application/json", "Request-Id": _new_id("req")})
        if key:
            response_headers["Idempotency-Key"] = key
        if replayed:
            response_headers["Idempotent-Replayed"] = "true"
        return json.dumps(body), status, response_headers

    def request_stream(self, method, url, headers, post_data=None, *, _usage=None):
        raise NotImplementedError("The fake answers no streaming requests.")

    def close(self) -> None:
        pass

    def _sleep_time_seconds(self, num_retries: int) -> float:
        # The SDK backs off before retrying; against the fake that is only wasted test time.
        return 0.0

    def _answer(self, method, path, params, headers, key, account) -> tuple[int, dict, bool]:
        if headers.get("Authorization") != f"Bearer {self.api_key}":
            error = StripeFakeError(401, "Invalid API Key provided.", type="invalid_request_error")
            return error.status, {"error": error.body}, False
        scope = (account or "", key or "")
        if key:
            stored = self._idempotent.get(scope)
            if stored is not None:
                if (stored.method, stored.path, stored.params) != (method, path, params):
                    message = (
                        "Keys for idempotent requests can only be used with the same parameters they were first used "
                        f"with. Try using a key other than '{key}' if you meant to execute a different request."
                    )
                    return 400, {"error": {"type": "idempotency_error", "message": message}}, False
                return stored.status, copy.deepcopy(stored.body), True
        try:
            status, body = self._dispatch(method, path, params)
        except StripeFakeError as error:
            status, body = error.status, {"error": error.body}
        if key and not body.get("error", {}).get("code", "").startswith("parameter_"):
            # Stripe keeps the result of every request that ran, errors included, but not of one
            # whose parameters failed validation (it never ran).
            self._idempotent[scope] = _Stored(method, path, params, status, copy.deepcopy(body))
        return status, body, False

    def _dispatch(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if route_method == method and match:
                return handler(params, **match.groupdict())
        raise StripeFakeError(404, f"Unrecognized request URL ({method.upper()}: {path}).")

    def _fail(self, failure: _Failure):
        if failure.error == "connection":
            raise stripe.APIConnectionError("Network error: the fake dropped the connection.", should_retry=True)
        status, error_type = (429, "rate_limit_error") if failure.error == "rate_limit" else (500, "api_error")
        body = {"error": {"type": error_type, "message": f"The fake failed this request ({status})."}}
        return json.dumps(body), status, CaseInsensitiveDict({"Content-Type": "application/json"})

    # --- test controls ---------------------------------------------------------------------------

    def fail_next(self, count: int = 1, *, error: str = "api_error", after_processing: bool = False) -> None:
        """The next `count` requests (the SDK's own retries included) fail: error="api_error"
        answers 500, "rate_limit" 429, "connection" drops the connection. With
        after_processing=True each runs first (its effects and idempotent result are kept) and
        only the answer is lost, as when a connection drops on the way back."""
        if error not in ("api_error", "rate_limit", "connection"):
            raise ValueError(error)
        with self._lock:
            self._failures.extend(_Failure(error, after_processing) for _ in range(count))

    def recover(self) -> None:
        """Cancel the failures still queued."""
        with self._lock:
            self._failures.clear()

    def forget_idempotency_keys(self) -> None:
        """What Stripe does to keys after 24 hours: the next request with an old key runs again."""
        with self._lock:
            self._idempotent.clear()

    def posts(self, path: str) -> list[Request]:
        """The POST requests received for one path (e.g. "/v1/payment_intents")."""
        return [r for r in self.requests if r.method == "post" and r.path == path]

    def confirm_payment(self, intent_id: str) -> dict:
        """The buyer pays the intent with a card that succeeds: a charge for the full amount is
        created, the intent becomes "succeeded" with it as latest_charge, and a
        payment_intent.succeeded event is recorded. Returns the intent."""
        with self._lock:
            intent = self.payment_intents[intent_id]
            if intent["status"] in ("succeeded", "canceled"):
                raise ValueError(f"{intent_id} is {intent['status']}: it cannot be paid")
            charge = {
                "id": _new_id("ch"),
                "object": "charge",
                "amount": intent["amount"],
                "amount_captured": intent["amount"],
                "amount_refunded": 0,
                "currency": intent["currency"],
                "captured": True,
                "paid": True,
                "refunded": False,
                "status": "succeeded",
                "payment_intent": intent_id,
                "transfer_group": intent["transfer_group"],
                "balance_transaction": _new_id("txn"),
                "metadata": dict(intent["metadata"]),
                "created": int(time.time()),
                "livemode": False,
                "refunds": _list("/v1/refunds", []),
            }
            self.charges[charge["id"]] = charge
            self._transferred[charge["id"]] = 0
            intent.update(status="succeeded", latest_charge=charge["id"], amount_received=intent["amount"])
            self._emit("charge.succeeded", charge)
            self._emit("payment_intent.succeeded", intent)
            return copy.deepcopy(intent)

    def update_account(
        self,
        account_id: str,
        *,
        details_submitted: bool | None = None,
        charges_enabled: bool | None = None,
        payouts_enabled: bool | None = None,
        capabilities: dict[str, str] | None = None,
    ) -> dict:
        """Change a connected account as Stripe would while the seller onboards (capabilities:
        name -> "active" / "pending" / "inactive") and record an account.updated event on the
        Connect side. Returns the account."""
        with self._lock:
            account = self.accounts[account_id]
            for name, value in (
                ("details_submitted", details_submitted),
                ("charges_enabled", charges_enabled),
                ("payouts_enabled", payouts_enabled),
            ):
                if value is not None:
                    account[name] = value
            account["capabilities"].update(capabilities or {})
            self._emit("account.updated", account, account=account_id)
            return copy.deepcopy(account)

    def complete_onboarding(self, account_id: str) -> dict:
        """The seller finished onboarding: details submitted, charges and payouts enabled, every
        requested capability active."""
        requested = dict.fromkeys(self.accounts[account_id]["capabilities"], "active")
        return self.update_account(
            account_id, details_submitted=True, charges_enabled=True, payouts_enabled=True, capabilities=requested
        )

    DISPUTE_FEE = 1500

    def create_dispute(self, charge_id: str, *, amount: int | None = None, reason: str = "fraudulent") -> dict:
        """The buyer's bank disputes a charge: the amount (the whole charge by default) and the
        dispute fee are withdrawn from the platform balance; charge.dispute.created and
        charge.dispute.funds_withdrawn are recorded. Returns the dispute."""
        with self._lock:
            charge = self.charges[charge_id]
            amount = charge["amount"] if amount is None else amount
            now = int(time.time())
            dispute = {
                "id": _new_id("du"),
                "object": "dispute",
                "amount": amount,
                "currency": charge["currency"],
                "charge": charge_id,
                "payment_intent": charge["payment_intent"],
                "reason": reason,
                "status": "needs_response",
                "evidence": {},
                "evidence_details": {"due_by": now + 7 * 86400, "has_evidence": False, "submission_count": 0},
                "balance_transactions": [],
                "is_charge_refundable": False,
                "metadata": {},
                "created": now,
                "livemode": False,
            }
            self.disputes[dispute["id"]] = dispute
            charge["disputed"] = True
            self._emit("charge.dispute.created", dispute)
            dispute["balance_transactions"].append(self._dispute_txn(-amount, self.DISPUTE_FEE, dispute))
            self._emit("charge.dispute.funds_withdrawn", dispute)
            return copy.deepcopy(dispute)

    def _dispute_txn(self, amount: int, fee: int, dispute: dict) -> dict:
        return {
            "id": _new_id("txn"),
            "object": "balance_transaction",
            "amount": amount,
            "fee": fee,
            "net": amount - fee,
            "currency": dispute["currency"],
            "reporting_category": "dispute" if amount < 0 else "dispute_reversal",
            "created": int(time.time()),
        }

    def close_dispute(self, dispute_id: str, status: str) -> dict:
        """The issuer decides: "won" reinstates the amount (the fee is kept:
        charge.dispute.funds_reinstated), "lost" keeps it; then charge.dispute.closed."""
        if status not in ("won", "lost"):
            raise ValueError(status)
        with self._lock:
            dispute = self.disputes[dispute_id]
            dispute["status"] = status
            if status == "won":
                dispute["balance_transactions"].append(self._dispute_txn(dispute["amount"], 0, dispute))
                self._emit("charge.dispute.funds_reinstated", dispute)
            self._emit("charge.dispute.closed", dispute)
            return copy.deepcopy(dispute)

    def last_event(self, event_type: str) -> dict:
        """The latest recorded event of a type (KeyError if none)."""
        for event in reversed(self.events):
            if event["type"] == event_type:
                return event
        raise KeyError(event_type)

    def _emit(self, event_type: str, obj: dict, *, account: str | None = None) -> dict:
        event = make_event(event_type, obj, account=account)
        self.events.append(event)
        return event

    # --- accounts ----------------------------------------------------------------------------------

    def _account_create(self, params: dict) -> tuple[int, dict]:
        _allow(params, "type", "country", "email", "controller", "capabilities", "metadata", "business_type")
        capabilities = params.get("capabilities") or {}
        account = {
            "id": _new_id("acct"),
            "object": "account",
            "type": params.get("type") or "none",
            "country": params.get("country") or "US",
            "email": params.get("email"),
            "controller": params.get("controller") or {},
            "capabilities": {
                name: "inactive" for name, value in capabilities.items() if value.get("requested") == "true"
            },
            "details_submitted": False,
            "charges_enabled": False,
            "payouts_enabled": False,
            "metadata": _metadata(params),
            "created": int(time.time()),
            "livemode": False,
        }
        self.accounts[account["id"]] = account
        return 200, copy.deepcopy(account)

    def _account_retrieve(self, params: dict, id: str) -> tuple[int, dict]:
        if id not in self.accounts:
            raise _missing("account", id)
        return 200, copy.deepcopy(self.accounts[id])

    def _account_link_create(self, params: dict) -> tuple[int, dict]:
        _allow(params, "account", "refresh_url", "return_url", "type", "collection_options")
        account_id = _str(params, "account")
        refresh_url, return_url, link_type = (_str(params, n) for n in ("refresh_url", "return_url", "type"))
        if account_id not in self.accounts:
            raise StripeFakeError(400, f"No such account: '{account_id}'", code="resource_missing", param="account")
        if link_type not in ("account_onboarding", "account_update"):
            raise StripeFakeError(400, f"Invalid type: {link_type}", code="parameter_invalid_string", param="type")
        now = int(time.time())
        link = {
            "object": "account_link",
            "created": now,
            "expires_at": now + 300,
            "url": f"https://connect.stripe.com/setup/e/{account_id}/{secrets.token_urlsafe(12)}",
        }
        self.account_links.append({**link, "account": account_id, "refresh_url": refresh_url, "return_url": return_url})
        return 200, link

    # --- payment intents and charges -------------------------------------------------------------

    def _payment_intent_create(self, params: dict) -> tuple[int, dict]:
        _allow(
            params,
            "amount",
            "currency",
            "transfer_group",
            "metadata",
            "automatic_payment_methods",
            "description",
            "receipt_email",
            "statement_descriptor_suffix",
        )
        intent_id = _new_id("pi")
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": _positive(params, "amount"),
            "amount_received": 0,
            "currency": _currency(params),
            "status": "requires_payment_method",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
            "transfer_group": params.get("transfer_group"),
            "metadata": _metadata(params),
            "automatic_payment_methods": {
                "enabled": (params.get("automatic_payment_methods") or {}).get("enabled") == "true"
            },
            "latest_charge": None,
            "last_payment_error": None,
            "canceled_at": None,
            "cancellation_reason": None,
            "created": int(time.time()),
            "livemode": False,
        }
        self.payment_intents[intent_id] = intent
        return 200, copy.deepcopy(intent)

    def _payment_intent_retrieve(self, params: dict, id: str) -> tuple[int, dict]:
        if id not in self.payment_intents:
            raise _missing("payment_intent", id)
        return 200, copy.deepcopy(self.payment_intents[id])

    def _payment_intent_cancel(self, params: dict, id: str) -> tuple[int, dict]:
        _allow(params, "cancellation_reason")
        if id not in self.payment_intents:
            raise _missing("payment_intent", id)
        intent = self.payment_intents[id]
        if intent["status"] in ("succeeded", "canceled"):
            raise StripeFakeError(
                400,
                f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}. Only a "
                "PaymentIntent with one of the following statuses may be canceled: requires_payment_method, "
                "requires_capture, requires_confirmation, requires_action, processing.",
                code="payment_intent_unexpected_state",
            )
        intent.update(
            status="canceled", canceled_at=int(time.time()), cancellation_reason=params.get("cancellation_reason")
        )
        self._emit("payment_intent.canceled", intent)
        return 200, copy.deepcopy(intent)

    def _charge_retrieve(self, params: dict, id: str) -> tuple[int, dict]:
        if id not in self.charges:
            raise _missing("charge", id)
        return 200, copy.deepcopy(self.charges[id])

    # --- refunds ------------------------------------------------------------------------------------

    def _refund_create(self, params: dict) -> tuple[int, dict]:
        _allow(params, "payment_intent", "charge", "amount", "reason", "metadata")
        charge = self._refundable_charge(params)
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining == 0:
            raise StripeFakeError(
                400, f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
            )
        amount = _positive(params, "amount", required=False)
        amount = remaining if amount is None else amount
        if amount > remaining:
            raise StripeFakeError(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
                code="amount_too_large",
                param="amount",
            )
        refund = {
            "id": _new_id("re"),
            "object": "refund",
            "amount": amount,
            "currency": charge["currency"],
            "charge": charge["id"],
            "payment_intent": charge["payment_intent"],
            "status": "succeeded",
            "reason": params.get("reason"),
            "metadata": _metadata(params),
            "created": int(time.time()),
        }
        self.refunds[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        charge["refunds"]["data"].insert(0, copy.deepcopy(refund))
        self._emit("refund.created", refund)
        self._emit("charge.refunded", charge)
        return 200, copy.deepcopy(refund)

    def _refundable_charge(self, params: dict) -> dict:
        charge_id = params.get("charge")
        intent_id = params.get("payment_intent")
        if not charge_id and not intent_id:
            raise StripeFakeError(400, "One of the following params should be provided: charge, payment_intent.")
        if intent_id:
            intent = self.payment_intents.get(intent_id)
            if intent is None:
                raise StripeFakeError(
                    400, f"No such payment_intent: '{intent_id}'", code="resource_missing", param="payment_intent"
                )
            if intent["status"] != "succeeded" or not intent["latest_charge"]:
                raise StripeFakeError(
                    400,
                    f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                    code="charge_not_refundable",
                    param="payment_intent",
                )
            charge_id = intent["latest_charge"]
        if charge_id not in self.charges:
            raise StripeFakeError(400, f"No such charge: '{charge_id}'", code="resource_missing", param="charge")
        return self.charges[charge_id]

    def _refund_retrieve(self, params: dict, id: str) -> tuple[int, dict]:
        if id not in self.refunds:
            raise _missing("refund", id)
        return 200, copy.deepcopy(self.refunds[id])

    def _refund_list(self, params: dict) -> tuple[int, dict]:
        _allow(params, "payment_intent", "charge", "limit")
        found = [
            copy.deepcopy(r)
            for r in reversed(self.refunds.values())
            if all(r.get(name) == params[name] for name in ("payment_intent", "charge") if name in params)
        ]
        return 200, _list("/v1/refunds", found)

    # --- transfers and reversals -----------------------------------------------------------------

    def _transfer_create(self, params: dict) -> tuple[int, dict]:
        _allow(
            params,
            "amount",
            "currency",
            "destination",
            "source_transaction",
            "transfer_group",
            "metadata",
            "description",
        )
        amount = _positive(params, "amount")
        currency = _currency(params)
        destination = _str(params, "destination")
        account = self.accounts.get(destination)
        if account is None:
            raise StripeFakeError(
                400, f"No such destination: '{destination}'", code="resource_missing", param="destination"
            )
        if account["capabilities"].get("transfers") != "active":
            raise StripeFakeError(
                400,
                "Your destination account needs to have at least one of the following capabilities enabled: "
                "transfers, crypto_transfers, legacy_payments",
                code="insufficient_capabilities_for_transfer",
                param="destination",
            )
        source = _str(params, "source_transaction", required=False)
        if source:
            charge = self.charges.get(source)
            if charge is None:
                raise StripeFakeError(
                    400, f"No such charge: '{source}'", code="resource_missing", param="source_transaction"
                )
            if charge["currency"] != currency:
                raise StripeFakeError(
                    400,
                    f"The currency of the transfer ({currency}) must match the source transaction's "
                    f"({charge['currency']}).",
                    param="currency",
                )
            available = charge["amount"] - charge["amount_refunded"] - self._transferred[source]
            if amount > available:
                raise StripeFakeError(
                    400,
                    f"The transfer amount ({amount}) exceeds what remains on the source transaction {source} "
                    f"({available}).",
                    code="amount_too_large",
                    param="amount",
                )
            self._transferred[source] += amount
        transfer_id = _new_id("tr")
        transfer = {
            "id": transfer_id,
            "object": "transfer",
            "amount": amount,
            "amount_reversed": 0,
            "currency": currency,
            "destination": destination,
            "source_transaction": source or None,
            "transfer_group": params.get("transfer_group"),
            "reversed": False,
            "reversals": _list(f"/v1/transfers/{transfer_id}/reversals", []),
            "metadata": _metadata(params),
            "created": int(time.time()),
            "livemode": False,
        }
        self.transfers[transfer_id] = transfer
        self._emit("transfer.created", transfer)
        return 200, copy.deepcopy(transfer)

    def _transfer_retrieve(self, params: dict, id: str) -> tuple[int, dict]:
        if id not in self.transfers:
            raise _missing("transfer", id)
        return 200, copy.deepcopy(self.transfers[id])

    def _transfer_list(self, params: dict) -> tuple[int, dict]:
        _allow(params, "transfer_group", "destination", "limit")
        found = [
            copy.deepcopy(t)
            for t in reversed(self.transfers.values())
            if all(t.get(name) == params[name] for name in ("transfer_group", "destination") if name in params)
        ]
        return 200, _list("/v1/transfers", found)

    def _reversal_create(self, params: dict, id: str) -> tuple[int, dict]:
        _allow(params, "amount", "metadata", "description", "refund_application_fee")
        transfer = self.transfers.get(id)
        if transfer is None:
            raise _missing("transfer", id)
        remaining = transfer["amount"] - transfer["amount_reversed"]
        if remaining == 0:
            raise StripeFakeError(
                400, f"Transfer {id} has already been fully reversed.", code="transfer_already_reversed"
            )
        amount = _positive(params, "amount", required=False)
        amount = remaining if amount is None else amount
        if amount > remaining:
            raise StripeFakeError(
                400,
                f"Reversal amount ({amount}) is greater than the unreversed amount on the transfer ({remaining})",
                code="amount_too_large",
                param="amount",
            )
        reversal = {
            "id": _new_id("trr"),
            "object": "transfer_reversal",
            "amount": amount,
            "currency": transfer["currency"],
            "transfer": id,
            "metadata": _metadata(params),
            "created": int(time.time()),
        }
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
        transfer["reversals"]["data"].insert(0, copy.deepcopy(reversal))
        self._emit("transfer.reversed", transfer)
        return 200, copy.deepcopy(reversal)

    # --- disputes --------------------------------------------------------------------------------------

    EVIDENCE_FIELDS = frozenset(
        {
            "access_activity_log",
            "billing_address",
            "cancellation_policy",
            "cancellation_policy_disclosure",
            "cancellation_rebuttal",
            "customer_communication",
            "customer_email_address",
            "customer_name",
            "customer_purchase_ip",
            "customer_signature",
            "duplicate_charge_documentation",
            "duplicate_charge_explanation",
            "duplicate_charge_id",
            "product_description",
            "receipt",
            "refund_policy",
            "refund_policy_disclosure",
            "refund_refusal_explanation",
            "service_date",
            "service_documentation",
            "shipping_address",
            "shipping_carrier",
            "shipping_date",
            "shipping_documentation",
            "shipping_tracking_number",
            "uncategorized_file",
            "uncategorized_text",
        }
    )

    def _dispute_retrieve(self, params: dict, id: str) -> tuple[int, dict]:
        if id not in self.disputes:
            raise _missing("dispute", id)
        return 200, copy.deepcopy(self.disputes[id])

    def _dispute_update(self, params: dict, id: str) -> tuple[int, dict]:
        _allow(params, "evidence", "submit", "metadata")
        dispute = self.disputes.get(id)
        if dispute is None:
            raise _missing("dispute", id)
        evidence = params.get("evidence") or {}
        if not isinstance(evidence, dict):
            raise StripeFakeError(400, "Invalid evidence: must be a hash.", param="evidence")
        for name in evidence:
            if name not in self.EVIDENCE_FIELDS:
                raise StripeFakeError(
                    400, f"Received unknown parameter: evidence[{name}]", code="parameter_unknown", param=name
                )
        if dispute["status"] not in ("needs_response", "warning_needs_response"):
            raise StripeFakeError(
                400,
                f"This dispute is {dispute['status']}: its evidence can no longer be updated.",
                code="dispute_not_updatable",
            )
        dispute["evidence"].update({k: str(v) for k, v in evidence.items()})
        dispute["evidence_details"]["has_evidence"] = bool(dispute["evidence"])
        dispute["metadata"].update(_metadata(params))
        if params.get("submit") == "true":
            dispute["status"] = "under_review" if dispute["status"] == "needs_response" else "warning_under_review"
            dispute["evidence_details"]["submission_count"] += 1
        self._emit("charge.dispute.updated", dispute)
        return 200, copy.deepcopy(dispute)


# --- webhooks and Stripe mode for tests -----------------------------------------------------------


def make_event(event_type: str, obj: dict, *, account: str | None = None, event_id: str | None = None) -> dict:
    """A v1 snapshot event around a copy of `obj`, as Stripe posts it. `account` marks an event
    of a connected account (delivered to the Connect endpoint)."""
    event = {
        "id": event_id or _new_id("evt"),
        "object": "event",
        "api_version": stripe.api_version,
        "created": int(time.time()),
        "type": event_type,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": copy.deepcopy(obj)},
    }
    if account:
        event["account"] = account
    return event


def signature_header(body: str, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe would send for `body` (t=...,v1=HMAC-SHA256)."""
    return stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)


def post_event(client, url: str, event: dict | str, secret: str, *, timestamp: int | None = None):
    """POST an event (a dict, or a raw body) to a webhook endpoint, signed with `secret`."""
    body = event if isinstance(event, str) else json.dumps(event)
    return client.post(
        url, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature_header(body, secret, timestamp)
    )


@contextmanager
def stripe_mode(settings, fake: "FakeStripe | None" = None) -> Iterator["FakeStripe"]:
    """Run the block in Stripe mode against the fake: settings.PAYMENT_PROVIDER = "stripe", the
    secret key and both webhook secrets set (pytest-django's `settings` fixture restores them),
    and payments.gateways.gateway() returning a StripeGateway bound to the fake."""
    from payments.gateways import override
    from payments.gateways.stripe_gateway import StripeGateway

    fake = fake or FakeStripe()
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = fake.api_key
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_CONNECT_WEBHOOK_SECRET = CONNECT_WEBHOOK_SECRET
    with override(StripeGateway(secret_key=fake.api_key, http_client=fake)):
        yield fake
