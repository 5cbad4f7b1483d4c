"""A small stateful Stripe on loopback, spoken to through the official SDK.

Kept in memory by a threaded ``http.server``: customers, Checkout sessions, subscriptions and
their items (quantity updates with proration), products, prices (found by lookup key), billing
meters with their events and summaries, billing portal sessions and invoices. The tests play the
customer's part with :meth:`FakeStripe.complete_checkout` and Stripe's with
:meth:`FakeStripe.set_status`, deliver webhook events signed with the SDK's own helper, and make
Stripe misbehave with :meth:`FakeStripe.fail_next` (429s and 500s).

Meter events follow Stripe's rules where Rapport depends on them: an identifier is accepted once
(a second use answers 400 ``resource_already_exists``, which the SDK raises as
``InvalidRequestError``), the timestamp must lie within the past 35 days and at most 5 minutes
ahead, values are whole numbers, and a meter created with ``event_time_window=hour``
(pre-aggregated ingestion) keeps the last value received in each UTC hour. A meter's
``default_aggregation.formula`` is ``sum`` (a period bills the sum of its hours), ``count`` or
``last`` (a gauge: a period bills the last value reported in it).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe

DAY = 86400


def _nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (``a[b][0][c]=v``) back into nested dicts (lists stay dicts)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return root


def _values(listed: Any) -> list[Any]:
    """A form-encoded list (``{"0": a, "1": b}``) as a list."""
    if isinstance(listed, dict):
        return [listed[k] for k in sorted(listed, key=int)]
    return [listed] if listed is not None else []


def _error(status: int, message: str, code: str | None = None) -> tuple[int, dict[str, Any]]:
    error: dict[str, Any] = {"type": "invalid_request_error", "message": message}
    if code:
        error["code"] = code
    return status, {"error": error}


def _listing(path: str, data: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    return 200, {"object": "list", "data": data, "has_more": False, "url": path}


class FakeStripe:
    def __init__(self, api_key: str, webhook_secret: str) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.lock = threading.RLock()
        self.objects: dict[str, dict[str, dict[str, Any]]] = {
            "customers": {}, "checkout_sessions": {}, "subscriptions": {}, "invoices": {},
            "products": {}, "prices": {}, "meters": {}, "subscription_items": {},
            "portal_sessions": {},
        }  # fmt: skip
        # identifier → meter event; (meter id, customer, hour start) → value (last one wins).
        self.meter_events: dict[str, dict[str, Any]] = {}
        self.windows: dict[tuple[str, str, int], int] = {}
        self.requests: list[tuple[str, str]] = []
        self.failures: list[tuple[str, int]] = []  # (path prefix, status) to answer next
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FakeStripe:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- test controls ------------------------------------------------------------------------
    def fail_next(self, path_prefix: str, status: int, times: int = 1) -> None:
        """Answer the next ``times`` requests under ``path_prefix`` with ``status``."""
        with self.lock:
            self.failures.extend([(path_prefix, status)] * times)

    def _injected(self, path: str) -> tuple[int, dict[str, Any]] | None:
        with self.lock:
            for index, (prefix, status) in enumerate(self.failures):
                if path.startswith(prefix):
                    del self.failures[index]
                    if status == 429:
                        return _error(429, "Too many requests.", "rate_limit")
                    return 500, {"error": {"type": "api_error", "message": "Internal error."}}
        return None

    def meter_total(self, event_name: str, customer: str) -> int:
        """What a meter would bill a customer: the sum of its hours, or with the ``last`` formula
        the value of the latest hour reported."""
        with self.lock:
            meter = self._meter_by_event(event_name)
            if meter is None:
                return 0
            hours = sorted(
                (h, v)
                for (m, c, h), v in self.windows.items()
                if m == meter["id"] and c == customer
            )
            if meter["default_aggregation"].get("formula") == "last":
                return hours[-1][1] if hours else 0
            return sum(v for _h, v in hours)

    def hourly(self, event_name: str, customer: str) -> dict[int, int]:
        with self.lock:
            meter = self._meter_by_event(event_name)
            if meter is None:
                return {}
            return {
                h: v for (m, c, h), v in self.windows.items() if m == meter["id"] and c == customer
            }

    # -- state --------------------------------------------------------------------------------
    def _new(self, kind: str, prefix: str, **fields: Any) -> dict[str, Any]:
        obj = {"id": f"{prefix}_{secrets.token_hex(8)}", "created": int(time.time()), **fields}
        self.objects[kind][obj["id"]] = obj
        return obj

    def _meter_by_event(self, event_name: str) -> dict[str, Any] | None:
        for meter in self.objects["meters"].values():
            if meter["event_name"] == event_name and meter["status"] == "active":
                return meter
        return None

    def _price_object(self, params: dict[str, Any]) -> dict[str, Any]:
        recurring = params.get("recurring") or {}
        tiers = [
            {
                "up_to": None if t.get("up_to") == "inf" else int(t["up_to"]),
                "unit_amount": int(t["unit_amount"]) if "unit_amount" in t else None,
                "unit_amount_decimal": t.get("unit_amount_decimal", t.get("unit_amount")),
            }
            for t in _values(params.get("tiers"))
        ]
        return {
            "object": "price", "active": True, "currency": params.get("currency", "usd"),
            "product": params.get("product"), "lookup_key": params.get("lookup_key"),
            "nickname": params.get("nickname"), "metadata": params.get("metadata", {}),
            "unit_amount": int(params["unit_amount"]) if "unit_amount" in params else None,
            "billing_scheme": params.get("billing_scheme", "per_unit"),
            "tiers_mode": params.get("tiers_mode"), "tiers": tiers or None,
            "recurring": {
                "interval": recurring.get("interval"),
                "usage_type": recurring.get("usage_type", "licensed"),
                "meter": recurring.get("meter"),
            },
        }  # fmt: skip

    def create(self, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            return self._create(path, params)

    def _create(self, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        objects = self.objects
        if path == "/v1/customers":
            return 200, self._new(
                "customers", "cus", object="customer", metadata=params.get("metadata", {})
            )
        if path == "/v1/checkout/sessions":
            if params.get("mode") != "subscription" or not params.get("line_items"):
                return _error(400, "mode and line_items are required")
            for item in _values(params["line_items"]):
                if "price" in item and item["price"] not in objects["prices"]:
                    return _error(400, f"No such price: '{item['price']}'", "resource_missing")
            obj = self._new(
                "checkout_sessions", "cs", object="checkout.session", status="open",
                mode="subscription", customer=params.get("customer"),
                client_reference_id=params.get("client_reference_id"),
                metadata=params.get("metadata", {}), subscription=None,
                line_items=params["line_items"],
                subscription_data=params.get("subscription_data", {}),
            )  # fmt: skip
            obj["url"] = f"{self.url}/pay/{obj['id']}"
            return 200, obj
        if path == "/v1/products":
            product_id = params.get("id") or f"prod_{secrets.token_hex(8)}"
            if product_id in objects["products"]:
                return _error(400, "Product already exists.", "resource_already_exists")
            product = {
                "id": product_id, "object": "product", "created": int(time.time()),
                "name": params.get("name"), "active": True, "metadata": params.get("metadata", {}),
            }  # fmt: skip
            objects["products"][product_id] = product
            return 200, product
        if path.startswith("/v1/products/"):
            product = objects["products"].get(path.rsplit("/", 1)[1])
            if product is None:
                return _error(404, "No such product", "resource_missing")
            product.update({k: v for k, v in params.items() if k in ("name", "active")})
            product.setdefault("metadata", {}).update(params.get("metadata", {}))
            return 200, product
        if path == "/v1/prices":
            if params.get("product") not in objects["products"]:
                return _error(400, "No such product", "resource_missing")
            key = params.get("lookup_key")
            if key:
                for other in objects["prices"].values():
                    if other.get("lookup_key") == key:
                        if params.get("transfer_lookup_key") != "true":
                            return _error(400, f"Lookup key {key} is in use.", "lookup_key_in_use")
                        other["lookup_key"] = None
            price = self._new("prices", "price", **self._price_object(params))
            return 200, price
        if path.startswith("/v1/prices/"):
            price = objects["prices"].get(path.rsplit("/", 1)[1])
            if price is None:
                return _error(404, "No such price", "resource_missing")
            if "active" in params:
                price["active"] = params["active"] == "true"
            return 200, price
        if path == "/v1/billing/meters":
            event_name = params.get("event_name")
            if not event_name or self._meter_by_event(event_name) is not None:
                return _error(
                    400, "A meter with this event_name exists.", "resource_already_exists"
                )
            aggregation = params.get("default_aggregation") or {"formula": "sum"}
            if aggregation.get("formula") not in ("sum", "count", "last"):
                return _error(400, "Invalid default_aggregation[formula].", "parameter_invalid")
            meter = self._new(
                "meters", "mtr", object="billing.meter", status="active", event_name=event_name,
                display_name=params.get("display_name"),
                default_aggregation=aggregation,
                event_time_window=params.get("event_time_window"),
                customer_mapping={"type": "by_id", "event_payload_key": "stripe_customer_id"},
                value_settings={"event_payload_key": "value"},
            )  # fmt: skip
            return 200, meter
        if path == "/v1/billing/meter_events":
            return self._meter_event(params)
        if path.startswith("/v1/subscription_items/"):
            item = objects["subscription_items"].get(path.rsplit("/", 1)[1])
            if item is None:
                return _error(404, "No such subscription item", "resource_missing")
            if "quantity" in params:
                self._prorate(item, price_id=None, quantity=int(params["quantity"]),
                              behavior=params.get("proration_behavior"))  # fmt: skip
            return 200, item
        if path.startswith("/v1/subscriptions/"):
            subscription = objects["subscriptions"].get(path.rsplit("/", 1)[1])
            if subscription is None:
                return _error(404, "No such subscription", "resource_missing")
            for change in _values(params.get("items")):
                if "id" in change:
                    item = objects["subscription_items"].get(change["id"])
                    if item is None:
                        return _error(400, "No such subscription item", "resource_missing")
                    if change.get("deleted") == "true":
                        subscription["items"]["data"].remove(item)
                        continue
                    self._prorate(
                        item, price_id=change.get("price"),
                        quantity=int(change["quantity"]) if "quantity" in change else None,
                        behavior=params.get("proration_behavior"),
                    )  # fmt: skip
                else:
                    self._add_item(subscription, change["price"], change.get("quantity"))
            subscription.setdefault("metadata", {}).update(params.get("metadata", {}))
            return 200, subscription
        if path == "/v1/billing_portal/sessions":
            if params.get("customer") not in objects["customers"]:
                return _error(400, "No such customer", "resource_missing")
            portal = self._new(
                "portal_sessions", "bps", object="billing_portal.session",
                customer=params["customer"], return_url=params.get("return_url"),
            )  # fmt: skip
            portal["url"] = f"{self.url}/portal/{portal['id']}"
            return 200, portal
        return _error(404, f"Unrecognized request URL (POST: {path})")

    def _meter_event(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        meter = self._meter_by_event(params.get("event_name", ""))
        if meter is None:
            return _error(400, "No active meter was found for event_name.", "resource_missing")
        identifier = params.get("identifier") or secrets.token_hex(12)
        if identifier in self.meter_events:
            return _error(
                400,
                f"An event with identifier {identifier} already exists.",
                "resource_already_exists",
            )
        payload = params.get("payload") or {}
        try:
            value = int(payload.get("value", ""))
        except ValueError:
            return _error(400, "The value must be a whole number.", "parameter_invalid_integer")
        customer = payload.get("stripe_customer_id")
        if customer not in self.objects["customers"]:
            return _error(400, "No customer was found for stripe_customer_id.", "resource_missing")
        now = int(time.time())
        timestamp = int(params.get("timestamp") or now)
        if timestamp < now - 35 * DAY or timestamp > now + 300:
            return _error(
                400,
                "Timestamp must be within the past 35 calendar days or up to 5 minutes ahead.",
                "timestamp_outside_window",
            )
        event = {
            "object": "billing.meter_event", "event_name": meter["event_name"],
            "identifier": identifier, "payload": payload, "timestamp": timestamp,
            "created": now, "livemode": False,
        }  # fmt: skip
        self.meter_events[identifier] = event
        window = (meter["id"], customer, timestamp - timestamp % 3600)
        formula = meter["default_aggregation"].get("formula")
        if meter.get("event_time_window") == "hour" or formula == "last":
            self.windows[window] = value  # pre-aggregated or a gauge: the last value wins
        elif formula == "count":
            self.windows[window] = self.windows.get(window, 0) + 1
        else:
            self.windows[window] = self.windows.get(window, 0) + value
        return 200, event

    def _add_item(self, subscription: dict[str, Any], price_id: str, quantity: Any) -> None:
        price = self.objects["prices"][price_id]
        item = self._new(
            "subscription_items", "si", object="subscription_item",
            subscription=subscription["id"], price=price,
            quantity=None if price["recurring"]["usage_type"] == "metered" else int(quantity or 1),
        )  # fmt: skip
        subscription["items"]["data"].append(item)

    def _prorate(
        self, item: dict[str, Any], price_id: str | None, quantity: int | None, behavior: Any
    ) -> None:
        """Change an item; with proration, invoice the difference for the rest of the period."""
        subscription = self.objects["subscriptions"][item["subscription"]]
        old_amount = (item["price"].get("unit_amount") or 0) * (item.get("quantity") or 0)
        if price_id is not None:
            item["price"] = self.objects["prices"][price_id]
        if quantity is not None:
            item["quantity"] = quantity
        new_amount = (item["price"].get("unit_amount") or 0) * (item.get("quantity") or 0)
        if behavior == "none" or new_amount == old_amount:
            return
        now = int(time.time())
        start, end = subscription["current_period_start"], subscription["current_period_end"]
        share = max(0.0, (end - now) / max(1, end - start))
        self._new(
            "invoices", "in", object="invoice", customer=subscription["customer"],
            subscription=subscription["id"], status="paid" if behavior == "always_invoice"
            else "draft", amount_due=round((new_amount - old_amount) * share), currency="usd",
            description="Proration", number=f"R-{len(self.objects['invoices']) + 1:04d}",
            hosted_invoice_url=f"{self.url}/invoice/{secrets.token_hex(4)}",
        )  # fmt: skip

    def retrieve(self, path: str, query: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            return self._retrieve(path, query)

    def _retrieve(self, path: str, query: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        objects = self.objects
        if path == "/v1/prices":
            keys = set(_values(query.get("lookup_keys")))
            found = [
                p for p in objects["prices"].values()
                if (not keys or p.get("lookup_key") in keys)
                and (query.get("active") != "true" or p["active"])
            ]  # fmt: skip
            return _listing(path, found)
        if path == "/v1/billing/meters":
            return _listing(path, list(objects["meters"].values()))
        if path == "/v1/invoices":
            customer = query.get("customer")
            found = [i for i in objects["invoices"].values() if i.get("customer") == customer]
            found.sort(key=lambda i: i["created"], reverse=True)
            return _listing(path, found[: int(query.get("limit", 10))])
        if path.startswith("/v1/billing/meters/") and path.endswith("/event_summaries"):
            meter_id = path.split("/")[4]
            if meter_id not in objects["meters"]:
                return _error(404, "No such meter", "resource_missing")
            customer = query.get("customer")
            start, end = int(query["start_time"]), int(query["end_time"])
            summaries = [
                {
                    "object": "billing.meter_event_summary", "id": f"mtrusg_{h}",
                    "meter": meter_id, "start_time": h, "end_time": h + 3600,
                    "aggregated_value": float(v), "livemode": False,
                }
                for (m, c, h), v in sorted(self.windows.items())
                if m == meter_id and c == customer and start <= h < end
            ]  # fmt: skip
            return _listing(path, summaries)
        kinds = {
            "/v1/customers/": "customers",
            "/v1/checkout/sessions/": "checkout_sessions",
            "/v1/subscriptions/": "subscriptions",
            "/v1/invoices/": "invoices",
            "/v1/products/": "products",
            "/v1/prices/": "prices",
            "/v1/subscription_items/": "subscription_items",
        }
        for prefix, kind in kinds.items():
            if path.startswith(prefix):
                obj = objects[kind].get(path[len(prefix) :])
                if obj is None:
                    return _error(404, "No such object", "resource_missing")
                return 200, obj
        return _error(404, f"Unrecognized request URL (GET: {path})")

    # -- what the customer and Stripe do ---------------------------------------------------------
    def complete_checkout(self, session_id: str) -> dict[str, Any]:
        """The customer paid: a subscription exists; return the ``checkout.session.completed``."""
        with self.lock:
            checkout = self.objects["checkout_sessions"][session_id]
            now = int(time.time())
            subscription = self._new(
                "subscriptions", "sub", object="subscription", status="active",
                customer=checkout["customer"],
                metadata=checkout["subscription_data"].get("metadata", {}),
                items={"object": "list", "data": []},
                current_period_start=now, current_period_end=now + 30 * DAY,
            )  # fmt: skip
            for line in _values(checkout["line_items"]):
                if "price" in line:
                    self._add_item(subscription, line["price"], line.get("quantity"))
                else:  # inline price_data
                    item = self._new(
                        "subscription_items", "si", object="subscription_item",
                        subscription=subscription["id"], quantity=int(line["quantity"]),
                        price={"unit_amount": int(line["price_data"]["unit_amount"]),
                               "recurring": {"usage_type": "licensed"}},
                    )  # fmt: skip
                    subscription["items"]["data"].append(item)
            self._new(
                "invoices", "in", object="invoice", customer=checkout["customer"],
                subscription=subscription["id"], status="paid", currency="usd",
                amount_due=sum((i["price"].get("unit_amount") or 0) * (i.get("quantity") or 0)
                               for i in subscription["items"]["data"]),
                description="Subscription creation",
                number=f"R-{len(self.objects['invoices']) + 1:04d}",
                hosted_invoice_url=f"{self.url}/invoice/{secrets.token_hex(4)}",
            )  # fmt: skip
            checkout.update(status="complete", subscription=subscription["id"])
            return self.event("checkout.session.completed", dict(checkout))

    def set_status(self, subscription_id: str, status: str) -> dict[str, Any]:
        with self.lock:
            subscription = self.objects["subscriptions"][subscription_id]
            subscription["status"] = status
            return self.event("customer.subscription.updated", dict(subscription))

    def fail_invoice(self, subscription_id: str) -> dict[str, Any]:
        """A renewal charge was declined: an open invoice, the subscription past due."""
        with self.lock:
            subscription = self.objects["subscriptions"][subscription_id]
            subscription["status"] = "past_due"
            invoice = self._new(
                "invoices", "in", object="invoice", customer=subscription["customer"],
                subscription=subscription_id, status="open", amount_due=1500, currency="usd",
                description="Renewal", number=f"R-{len(self.objects['invoices']) + 1:04d}",
                hosted_invoice_url=f"{self.url}/invoice/{secrets.token_hex(4)}",
            )  # fmt: skip
            return self.event("invoice.payment_failed", dict(invoice))

    def event(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f"evt_{secrets.token_hex(8)}", "object": "event", "type": kind,
            "created": int(time.time()), "data": {"object": obj},
        }  # fmt: skip

    def sign(self, event: dict[str, Any], timestamp: int | None = None) -> tuple[bytes, str]:
        """The body and ``Stripe-Signature`` header Stripe would send for this event."""
        payload = json.dumps(event)
        header = stripe.WebhookSignature.generate_signature_header(
            payload, self.webhook_secret, timestamp=timestamp or int(time.time())
        )
        return payload.encode(), header

    # -- HTTP ---------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Stripe-Should-Retry", "false")
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    self._answer(401, {"error": {"message": "Invalid API Key provided"}})
                    return False
                return True

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                fake.requests.append(("GET", parts.path))
                if parts.path.startswith("/pay/"):  # the hosted Checkout page a browser opens
                    session_id = parts.path.rsplit("/", 1)[1]
                    with fake.lock:
                        found = fake.objects["checkout_sessions"].get(session_id)
                    page = (
                        f"<!doctype html><title>Checkout</title><h1>Fake Stripe Checkout</h1>"
                        f"<p id='session'>{session_id}</p>"
                        if found
                        else "<!doctype html><title>Checkout</title><h1>No such session</h1>"
                    ).encode()  # fmt: skip
                    self.send_response(200 if found else 404)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                    return
                if self._authorized():
                    injected = fake._injected(parts.path)
                    query = _nest(parse_qsl(parts.query))
                    self._answer(*(injected or fake.retrieve(parts.path, query)))

            def do_POST(self) -> None:  # noqa: N802
                path = urlsplit(self.path).path
                fake.requests.append(("POST", path))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                if self._authorized():
                    injected = fake._injected(path)
                    self._answer(*(injected or fake.create(path, _nest(parse_qsl(body)))))

        return Handler
