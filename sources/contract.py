"""The canonical data contract (DESIGN §3): one pandera model per table, written as parquet.

Every source (the synthetic bank, a public-data adapter, a bank's own export) is turned into
these tables before anything else runs. Column names are snake_case; dates are naive calendar
dates at midnight, timestamps are UTC.
"""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

# Identifiers are ASCII ([0-9], not `\d`, which matches any Unicode digit) and end at the end of the
# text (`\Z`: `$` also matches before a trailing newline). pandera matches them with Python's `re`.
# A customer is C + 8 digits (the bank's own numbering) or, once assembled through OneID, O + 10 digits.
CUSTOMER_ID = r"^(?:C[0-9]{8}|O[0-9]{10})\Z"
PRODUCT_ID = r"^[A-Z0-9][A-Z0-9_]{1,31}\Z"
EXTERNAL_ID = r"^[!-~]{1,64}\Z"  # a source system's id: 1-64 printable ASCII characters, no spaces
TOPIC = r"^[a-z][a-z0-9_]{0,39}\Z"
PHONE = r"^[0-9+\-* ]{4,20}\Z"
# Text lengths a bank's systems hold (README, "The canonical data contract").
NAME_MAX = 100
OCCUPATION_MAX = 64
PRODUCT_NAME_MAX = 100
CATEGORIES = (
    "deposit", "wealth", "fund", "insurance", "credit_card", "personal_loan", "mortgage", "fx", "gold",
)
RISK_LEVELS = ("R1", "R2", "R3", "R4", "R5")
RISK_TOLERANCES = ("C1", "C2", "C3", "C4", "C5")
SEGMENTS = ("mass", "affluent", "private")
CHANNELS = ("app", "web", "branch", "rm", "phone")
CONTACT_CHANNELS = ("app_push", "sms", "rm_call", "wechat")  # the contact policy's (and campaigns') channels
GENDERS = ("F", "M", "U")
# Web topics a page view or search is counted under (one per product family, plus promotions).
TOPICS = ("deposit", "wealth", "fund", "gold", "insurance", "credit_card", "loan", "study_abroad",
          "mortgage", "fx", "promotions")

EVENT_TYPES = ("login", "page_view", "search", "click", "offer_shown", "offer_accepted")
PAYMENT_CHANNELS = ("app", "web", "branch", "phone")
ACCOUNT_EVENT_TYPES = ("login", "password_change", "device_bound", "credit_received")
CURRENCY = r"^[A-Z]{3}\Z"  # ISO 4217
CITY_MAX = 64

UtcTimestamp = Annotated[pd.DatetimeTZDtype, "ns", "UTC"]


class Customers(pa.DataFrameModel):
    """One row per customer: identity, profile and the relationship's start and end."""

    customer_id: Series[str] = pa.Field(str_matches=CUSTOMER_ID, unique=True)
    external_id: Series[str] = pa.Field(nullable=True, str_matches=EXTERNAL_ID)
    name: Series[str] = pa.Field(nullable=True, str_length={"min_value": 1, "max_value": NAME_MAX})
    phone: Series[str] = pa.Field(nullable=True, str_matches=PHONE)
    birth_date: Series[pd.Timestamp] = pa.Field(nullable=True)
    gender: Series[str] = pa.Field(isin=GENDERS)
    city_tier: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1, le=4)
    occupation: Series[str] = pa.Field(nullable=True, str_length={"min_value": 1, "max_value": OCCUPATION_MAX})
    segment: Series[str] = pa.Field(isin=SEGMENTS)
    join_date: Series[pd.Timestamp] = pa.Field(nullable=True)
    close_date: Series[pd.Timestamp] = pa.Field(nullable=True)
    risk_tolerance: Series[str] = pa.Field(nullable=True, isin=RISK_TOLERANCES)
    risk_assessed_at: Series[pd.Timestamp] = pa.Field(nullable=True)
    marketing_consent: Series[bool]
    preferred_channel: Series[str] = pa.Field(nullable=True, isin=CHANNELS)
    income_monthly: Series[float] = pa.Field(nullable=True, ge=0)

    @pa.dataframe_check(error="close_date is before join_date")
    @classmethod
    def closes_after_joining(cls, df: pd.DataFrame) -> Series[bool]:
        return ~(df["close_date"] < df["join_date"])

    class Config:
        strict = True


class Products(pa.DataFrameModel):
    """The product catalogue."""

    product_id: Series[str] = pa.Field(str_matches=PRODUCT_ID, unique=True)
    name_zh: Series[str] = pa.Field(str_length={"min_value": 1, "max_value": PRODUCT_NAME_MAX})
    name_en: Series[str] = pa.Field(str_length={"min_value": 1, "max_value": PRODUCT_NAME_MAX})
    category: Series[str] = pa.Field(isin=CATEGORIES)
    risk_level: Series[str] = pa.Field(isin=RISK_LEVELS)
    is_credit: Series[bool]
    min_amount: Series[float] = pa.Field(ge=0)
    expected_yield: Series[float] = pa.Field(ge=-1, le=1)
    margin: Series[float] = pa.Field(ge=0)
    min_age: Series[int] = pa.Field(ge=0, le=120)
    max_age: Series[int] = pa.Field(ge=0, le=120)

    @pa.dataframe_check(error="min_age is above max_age")
    @classmethod
    def age_range_ordered(cls, df: pd.DataFrame) -> Series[bool]:
        return df["min_age"] <= df["max_age"]

    class Config:
        strict = True


class Holdings(pa.DataFrameModel):
    """Month-end snapshots of products held: a row means the product was held that month."""

    customer_id: Series[str] = pa.Field(str_matches=CUSTOMER_ID)
    product_id: Series[str] = pa.Field(str_matches=PRODUCT_ID)
    snapshot_date: Series[pd.Timestamp] = pa.Field()
    balance: Series[float] = pa.Field(ge=0)

    @pa.check("snapshot_date", error="snapshot_date is not a month end")
    @classmethod
    def is_month_end(cls, s: Series[pd.Timestamp]) -> Series[bool]:
        return s.dt.is_month_end & (s.dt.normalize() == s)

    class Config:
        strict = True
        unique = ["customer_id", "product_id", "snapshot_date"]


class Events(pa.DataFrameModel):
    """Customer behaviour, one row per event. Trackers may send an event twice (distinct ids)."""

    event_id: Series[int] = pa.Field(ge=0, unique=True)
    customer_id: Series[str] = pa.Field(str_matches=CUSTOMER_ID)
    event_time: Series[UtcTimestamp] = pa.Field()
    event_type: Series[str] = pa.Field(isin=EVENT_TYPES)
    topic: Series[str] = pa.Field(nullable=True, str_matches=TOPIC)
    product_id: Series[str] = pa.Field(nullable=True, str_matches=PRODUCT_ID)
    channel: Series[str] = pa.Field(isin=CHANNELS)

    class Config:
        strict = True


class CustomerMonths(pa.DataFrameModel):
    """The key of the monthly tables: one row per customer and month (`month`: its first day)."""

    customer_id: Series[str] = pa.Field(str_matches=CUSTOMER_ID)
    month: Series[pd.Timestamp] = pa.Field()

    @pa.check("month", error="month is not the first day of a month")
    @classmethod
    def is_month_start(cls, s: Series[pd.Timestamp]) -> Series[bool]:
        return s.dt.is_month_start & (s.dt.normalize() == s)


class Transactions(CustomerMonths):
    """Monthly cash-flow summary per customer (`month` is the first day of the month)."""

    inflow: Series[float] = pa.Field(ge=0)
    outflow: Series[float] = pa.Field(ge=0)
    outflow_other_banks: Series[float] = pa.Field(ge=0)
    txn_count: Series[int] = pa.Field(ge=0)
    card_spend: Series[float] = pa.Field(ge=0)
    salary_credit: Series[float] = pa.Field(ge=0)

    class Config:
        strict = True
        unique = ["customer_id", "month"]


class Credit(CustomerMonths):
    """Monthly credit behaviour per customer over all credit products (`month`: first day).

    Amounts a source does not have are null, never 0 (a snapshot import knows the month's arrears
    but not always its limit or balance); days past due and missed payments are always known.
    """

    credit_limit: Series[float] = pa.Field(ge=0, nullable=True)
    balance: Series[float] = pa.Field(ge=0, nullable=True)
    utilization: Series[float] = pa.Field(ge=0, le=5, nullable=True)
    payment_amount: Series[float] = pa.Field(ge=0, nullable=True)
    days_past_due: Series[int] = pa.Field(ge=0, le=3650)
    missed_payments: Series[int] = pa.Field(ge=0)

    class Config:
        strict = True
        unique = ["customer_id", "month"]


class CustomerHistory(pa.DataFrameModel):
    """Optional: the customer attributes that change over time, one row per version (SCD type 2).

    A version holds from `valid_from` (a date) until the next version of the same customer; the
    latest one is today's, the customers table's. Columns as in the customers table. (Validation
    also checks that no version shows an assessment made after its valid_from.)
    """

    customer_id: Series[str] = pa.Field(str_matches=CUSTOMER_ID)
    valid_from: Series[pd.Timestamp] = pa.Field()
    segment: Series[str] = pa.Field(isin=SEGMENTS)
    risk_tolerance: Series[str] = pa.Field(nullable=True, isin=RISK_TOLERANCES)
    risk_assessed_at: Series[pd.Timestamp] = pa.Field(nullable=True)
    income_monthly: Series[float] = pa.Field(nullable=True, ge=0)
    occupation: Series[str] = pa.Field(nullable=True, str_length={"min_value": 1, "max_value": OCCUPATION_MAX})
    preferred_channel: Series[str] = pa.Field(nullable=True, isin=CHANNELS)
    marketing_consent: Series[bool]
    city_tier: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1, le=4)

    class Config:
        strict = True
        unique = ["customer_id", "valid_from"]


class Payments(pa.DataFrameModel):
    """Optional: outbound transfers as the payment system records them (`first_to_payee`: its own flag,
    the customer never paid this payee before). `device_id` is null where no device was used (branch,
    phone banking)."""

    payment_id: Series[str] = pa.Field(str_matches=EXTERNAL_ID, unique=True)
    customer_id: Series[str] = pa.Field(str_matches=CUSTOMER_ID)
    payment_time: Series[UtcTimestamp] = pa.Field()
    amount: Series[float] = pa.Field(gt=0)
    currency: Series[str] = pa.Field(str_matches=CURRENCY)
    payee_id: Series[str] = pa.Field(str_matches=EXTERNAL_ID)
    first_to_payee: Series[bool]
    channel: Series[str] = pa.Field(isin=PAYMENT_CHANNELS)
    device_id: Series[str] = pa.Field(nullable=True, str_matches=EXTERNAL_ID)
    city: Series[str] = pa.Field(str_length={"min_value": 1, "max_value": CITY_MAX})

    class Config:
        strict = True


class AccountEvents(pa.DataFrameModel):
    """Optional: security events (login, password change, device bound) and inbound credits, whose
    `amount` (and only theirs) is set."""

    event_id: Series[str] = pa.Field(str_matches=EXTERNAL_ID, unique=True)
    customer_id: Series[str] = pa.Field(str_matches=CUSTOMER_ID)
    event_time: Series[UtcTimestamp] = pa.Field()
    event_type: Series[str] = pa.Field(isin=ACCOUNT_EVENT_TYPES)
    device_id: Series[str] = pa.Field(nullable=True, str_matches=EXTERNAL_ID)
    city: Series[str] = pa.Field(nullable=True, str_length={"min_value": 1, "max_value": CITY_MAX})
    amount: Series[float] = pa.Field(nullable=True, gt=0)

    @pa.dataframe_check(error="amount is set for an inbound credit (credit_received) and only for one")
    @classmethod
    def amount_only_for_credits(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["event_type"] == "credit_received") == df["amount"].notna()

    class Config:
        strict = True


class ContactConsent(pa.DataFrameModel):
    """Optional: the customer's consent to be contacted on each channel (SMS consent is not app consent).

    A customer without a row, or a bank without the table, has the customers table's
    `marketing_consent` for every channel (the contact policy, issue 25)."""

    customer_id: Series[str] = pa.Field(str_matches=CUSTOMER_ID, unique=True)
    app_push: Series[bool]
    sms: Series[bool]
    rm_call: Series[bool]
    wechat: Series[bool]

    class Config:
        strict = True


TABLES: dict[str, type[pa.DataFrameModel]] = {
    "customers": Customers,
    "products": Products,
    "holdings": Holdings,
    "events": Events,
    "transactions": Transactions,
    "credit": Credit,
}

# (table, column) -> (parent table, parent key)
FOREIGN_KEYS: dict[tuple[str, str], tuple[str, str]] = {
    ("holdings", "customer_id"): ("customers", "customer_id"),
    ("holdings", "product_id"): ("products", "product_id"),
    ("events", "customer_id"): ("customers", "customer_id"),
    ("events", "product_id"): ("products", "product_id"),
    ("transactions", "customer_id"): ("customers", "customer_id"),
    ("credit", "customer_id"): ("customers", "customer_id"),
}


def kind_of(table: str, column: str) -> str:
    """Return the contract kind of a column: str, float, int, bool, date or timestamp."""
    dtype = TABLES[table].to_schema().columns[column].dtype.type
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "timestamp"
    if isinstance(dtype, pd.Int64Dtype):
        return "int"
    kinds = {"U": "str", "O": "str", "f": "float", "i": "int", "b": "bool", "M": "date"}
    return kinds[dtype.kind]


def columns_of(table: str) -> dict[str, str]:
    """Return the contract's column → kind for one table, in contract order."""
    return {name: kind_of(table, name) for name in TABLES[table].to_schema().columns}


def is_nullable(table: str, column: str) -> bool:
    """Whether the contract allows missing values in this column."""
    return bool(TABLES[table].to_schema().columns[column].nullable)


# Tables a data directory may hold or not (README "The canonical data contract"), by name.
OPTIONAL_TABLES: dict[str, type[pa.DataFrameModel]] = {
    "customer_history": CustomerHistory, "payments": Payments, "account_events": AccountEvents,
    "contact_consent": ContactConsent}
TABLES |= OPTIONAL_TABLES
for _table in OPTIONAL_TABLES:
    FOREIGN_KEYS[(_table, "customer_id")] = ("customers", "customer_id")
# The customers table's columns that customer_history versions (every history column but the key).
HISTORY_COLUMNS = tuple(c for c in CustomerHistory.to_schema().columns if c not in ("customer_id", "valid_from"))
