"""Line items of a Checkout Session, with the prices and products `price_data` makes inline."""

from __future__ import annotations

import copy
import typing
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from stripe_double import validation as check
from stripe_double.errors import invalid, missing, no_such
from stripe_double.store import Store, new_id
from stripe_double.vocabulary import (
    LINE_ITEM_PARAMS,
    MAXIMUM_AMOUNT,
    MODELED_LINE_ITEM_PARAMS,
    MODELED_PRICE_DATA_PARAMS,
    MODELED_PRODUCT_DATA_PARAMS,
    PRICE_DATA_PARAMS,
    PRODUCT_DATA_PARAMS,
    TAX_BEHAVIORS,
)

Json = dict[str, Any]


def build_line_items(store: Store, params: Json, now: int) -> tuple[list[Json], str]:
    raw = params.get("line_items")
    if raw is None:
        raise missing("line_items")
    if not isinstance(raw, list) or not raw:
        raise invalid("Invalid array", "line_items")
    if len(raw) > 100:
        raise invalid("You can have at most 100 line items.", "line_items")
    items = [_build_line_item(store, item, f"line_items[{i}]", now) for i, item in enumerate(raw)]
    currencies = {item["currency"] for item in items}
    if len(currencies) > 1:
        raise invalid(
            "All line items must use the same currency; got " + ", ".join(sorted(currencies)),
            "line_items",
        )
    return items, currencies.pop()

def _build_line_item(store: Store, raw: Any, prefix: str, now: int) -> Json:
    if not isinstance(raw, dict):
        raise invalid("Invalid object", prefix)
    check.known(raw, LINE_ITEM_PARAMS, MODELED_LINE_ITEM_PARAMS, prefix)
    if "price" in raw and "price_data" in raw:
        raise invalid("You may only specify one of these parameters: price, price_data.", prefix)
    if "price" in raw:
        price_id = check.string(raw["price"], f"{prefix}[price]")
        raise no_such("price", price_id, param=f"{prefix}[price]", status=400)
    if "price_data" not in raw:
        raise invalid(f"You must specify either `price` or `price_data` in `{prefix}`.", prefix)
    if "quantity" not in raw:
        raise invalid(
            f"Quantity is required. Add `quantity` to `{prefix}`.",
            f"{prefix}[quantity]",
            "parameter_missing",
        )
    quantity = check.integer(raw["quantity"], f"{prefix}[quantity]", minimum=0, maximum=999_999)
    price = _build_price(store, raw["price_data"], f"{prefix}[price_data]", now)
    unit = Decimal(price["unit_amount_decimal"])
    total = int((unit * quantity).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return {
        "id": new_id("li_", 24),
        "object": "item",
        "amount_discount": 0,
        "amount_subtotal": total,
        "amount_tax": 0,
        "amount_total": total,
        "currency": price["currency"],
        "description": store.products[price["product"]]["name"],
        "metadata": check.metadata(raw.get("metadata", {}), f"{prefix}[metadata]"),
        "price": copy.deepcopy(price),
        "quantity": quantity,
    }

def _build_price(store: Store, raw: Any, prefix: str, now: int) -> Json:
    if not isinstance(raw, dict):
        raise invalid("Invalid object", prefix)
    check.known(raw, PRICE_DATA_PARAMS, MODELED_PRICE_DATA_PARAMS, prefix)
    currency = check.currency(check.required(raw, "currency", prefix), f"{prefix}[currency]")
    if "recurring" in raw:
        raise invalid(
            "You specified `payment` mode but passed a recurring price. Either switch "
            "to `subscription` mode or use only one-time prices.",
            f"{prefix}[recurring]",
        )
    if "unit_amount" in raw and "unit_amount_decimal" in raw:
        raise invalid(
            "You may only specify one of these parameters: unit_amount, unit_amount_decimal.",
            prefix,
        )
    if "unit_amount" in raw:
        unit_amount: int | None = check.integer(
            raw["unit_amount"], f"{prefix}[unit_amount]", minimum=0, maximum=MAXIMUM_AMOUNT
        )
        unit_decimal = Decimal(typing.cast(int, unit_amount))
    elif "unit_amount_decimal" in raw:
        unit_decimal = check.decimal(raw["unit_amount_decimal"], f"{prefix}[unit_amount_decimal]")
        unit_amount = int(unit_decimal) if unit_decimal == unit_decimal.to_integral() else None
    else:
        raise invalid(
            "You must specify either `unit_amount` or `unit_amount_decimal`.",
            f"{prefix}[unit_amount]",
            "parameter_missing",
        )
    if "product" in raw and "product_data" in raw:
        raise invalid(
            "You may only specify one of these parameters: product, product_data.",
            prefix,
        )
    if "product" in raw:
        product_id = check.string(raw["product"], f"{prefix}[product]")
        raise no_such("product", product_id, param=f"{prefix}[product]", status=400)
    if "product_data" not in raw:
        raise invalid(
            "You must specify either `product` or `product_data` when creating a price.",
            f"{prefix}[product_data]",
            "parameter_missing",
        )
    product = _build_product(store, raw["product_data"], f"{prefix}[product_data]", now)
    price_id = new_id("price_", 24)
    store.prices[price_id] = {
        "id": price_id,
        "object": "price",
        "active": False,
        "billing_scheme": "per_unit",
        "created": now,
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": store.livemode,
        "lookup_key": None,
        "metadata": {},
        "nickname": None,
        "product": product["id"],
        "recurring": None,
        "tax_behavior": (
            check.enum(raw["tax_behavior"], TAX_BEHAVIORS, f"{prefix}[tax_behavior]")
            if "tax_behavior" in raw
            else "unspecified"
        ),
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": format(unit_decimal, "f"),
    }
    return store.prices[price_id]

def _build_product(store: Store, raw: Any, prefix: str, now: int) -> Json:
    if not isinstance(raw, dict):
        raise invalid("Invalid object", prefix)
    check.known(raw, PRODUCT_DATA_PARAMS, MODELED_PRODUCT_DATA_PARAMS, prefix)
    name = check.string(check.required(raw, "name", prefix), f"{prefix}[name]", max_length=250)
    product_id = new_id("prod_", 14)
    store.products[product_id] = {
        "id": product_id,
        "object": "product",
        "active": False,
        "created": now,
        "default_price": None,
        "description": check.optional_string(raw, "description", 40_000, prefix),
        "images": check.string_list(raw.get("images", []), f"{prefix}[images]"),
        "livemode": store.livemode,
        "marketing_features": [],
        "metadata": check.metadata(raw.get("metadata", {}), f"{prefix}[metadata]"),
        "name": name,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": check.optional_string(raw, "unit_label", 12, prefix),
        "updated": now,
        "url": None,
    }
    return store.products[product_id]
