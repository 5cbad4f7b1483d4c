"""A small stateful Stripe on loopback, spoken to through the official SDK.

Customers, Checkout sessions and subscriptions, kept in memory by a threaded ``http.server``. The
tests play the customer's part with :meth:`FakeStripe.complete_checkout` and Stripe's with
:meth:`FakeStripe.set_status`, and deliver webhook events signed with the SDK's own helper.
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


class FakeStripe:
    def __init__(self, api_key: str, webhook_secret: str) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.lock = threading.Lock()
        self.objects: dict[str, dict[str, dict[str, Any]]] = {
            "customers": {}, "checkout_sessions": {}, "subscriptions": {}, "invoices": {},
        }  # fmt: skip
        self.requests: list[tuple[str, str]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FakeStripe:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- state --------------------------------------------------------------------------------
    def _new(self, kind: str, prefix: str, **fields: Any) -> dict[str, Any]:
        obj = {"id": f"{prefix}_{secrets.token_hex(8)}", "created": int(time.time()), **fields}
        self.objects[kind][obj["id"]] = obj
        return obj

    def create(self, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if path == "/v1/customers":
                return 200, self._new(
                    "customers", "cus", object="customer", metadata=params.get("metadata", {})
                )
            if path == "/v1/checkout/sessions":
                if params.get("mode") != "subscription" or not params.get("line_items"):
                    return 400, {"error": {"message": "mode and line_items are required"}}
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
        return 404, {"error": {"message": f"Unrecognized request URL (POST: {path})"}}

    def retrieve(self, path: str) -> tuple[int, dict[str, Any]]:
        kinds = {
            "/v1/customers/": "customers",
            "/v1/checkout/sessions/": "checkout_sessions",
            "/v1/subscriptions/": "subscriptions",
            "/v1/invoices/": "invoices",
        }
        for prefix, kind in kinds.items():
            if path.startswith(prefix):
                with self.lock:
                    obj = self.objects[kind].get(path[len(prefix) :])
                if obj is None:
                    return 404, {"error": {"type": "invalid_request_error", "message": "No such"}}
                return 200, obj
        return 404, {"error": {"message": f"Unrecognized request URL (GET: {path})"}}

    # -- what the customer and Stripe do ---------------------------------------------------------
    def complete_checkout(self, session_id: str) -> dict[str, Any]:
        """The customer paid: a subscription exists; return the ``checkout.session.completed``."""
        with self.lock:
            checkout = self.objects["checkout_sessions"][session_id]
            item = checkout["line_items"]["0"]
            now = int(time.time())
            subscription = self._new(
                "subscriptions", "sub", object="subscription", status="active",
                customer=checkout["customer"],
                metadata=checkout["subscription_data"].get("metadata", {}),
                items={"data": [{"quantity": int(item["quantity"])}]},
                current_period_start=now, current_period_end=now + 30 * 86400,
            )  # fmt: skip
            checkout.update(status="complete", subscription=subscription["id"])
            return self.event("checkout.session.completed", dict(checkout))

    def set_status(self, subscription_id: str, status: str) -> dict[str, Any]:
        with self.lock:
            subscription = self.objects["subscriptions"][subscription_id]
            subscription["status"] = status
            return self.event("customer.subscription.updated", dict(subscription))

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
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    self._answer(401, {"error": {"message": "Invalid API Key provided"}})
                    return False
                return True

            def do_GET(self) -> None:  # noqa: N802
                path = urlsplit(self.path).path
                fake.requests.append(("GET", path))
                if self._authorized():
                    self._answer(*fake.retrieve(path))

            def do_POST(self) -> None:  # noqa: N802
                path = urlsplit(self.path).path
                fake.requests.append(("POST", path))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                if self._authorized():
                    self._answer(*fake.create(path, _nest(parse_qsl(body))))

        return Handler
