"""Feast entities: the customer and the product (declarative constants, as in any Feast repo)."""

from __future__ import annotations

from feast import Entity, ValueType

from features.tables import CUSTOMER_KEY, PRODUCT_KEY

CUSTOMER = Entity(name="customer", join_keys=[CUSTOMER_KEY], value_type=ValueType.STRING,
                  description="A retail bank customer (C + 8 digits).")
PRODUCT = Entity(name="product", join_keys=[PRODUCT_KEY], value_type=ValueType.STRING,
                 description="A catalogue product.")
ENTITIES = {CUSTOMER_KEY: CUSTOMER, PRODUCT_KEY: PRODUCT}
