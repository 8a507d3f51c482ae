"""Checks on what clients send: a mistake gets a 4xx naming it, never a 500."""
from __future__ import annotations

import re
from typing import Any

ORDER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_ITEMS = 100


class InvalidInput(ValueError):
    """The request is malformed; the message says how (sent back with status 400)."""


def check_order_id(order_id: str) -> str:
    if not ORDER_ID.match(order_id):
        raise InvalidInput("order id must be 1-64 letters, digits, '-' or '_'")
    return order_id


def check_order(body: Any) -> dict[str, Any]:
    """A valid order body: ``{"customer": str, "items": [{"sku": str, "qty": int>0, "price": >=0}]}``."""
    if not isinstance(body, dict):
        raise InvalidInput("body must be a JSON object")
    customer = body.get("customer")
    if not isinstance(customer, str) or not customer.strip() or len(customer) > 200:
        raise InvalidInput("'customer' must be a non-empty string of at most 200 characters")
    items = body.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        raise InvalidInput(f"'items' must be a list of 1 to {MAX_ITEMS} items")
    clean = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidInput(f"items[{index}] must be an object")
        sku, qty, price = item.get("sku"), item.get("qty"), item.get("price")
        if not isinstance(sku, str) or not sku:
            raise InvalidInput(f"items[{index}].sku must be a non-empty string")
        if not isinstance(qty, int) or isinstance(qty, bool) or qty < 1:
            raise InvalidInput(f"items[{index}].qty must be a whole number of at least 1")
        if not isinstance(price, (int, float)) or isinstance(price, bool) or price < 0:
            raise InvalidInput(f"items[{index}].price must be a number of at least 0")
        clean.append({"sku": sku, "qty": qty, "price": float(price)})
    return {"customer": customer.strip(), "items": clean}


def order_total(order: dict[str, Any]) -> float:
    return round(sum(item["qty"] * item["price"] for item in order["items"]), 2)
