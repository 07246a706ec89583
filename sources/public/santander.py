"""`santander`: the 9,999-row head sample of Kaggle's Santander Product Recommendation data.

One month only (fecha_dato 2015-01-28) and not a random sample: good for checking the loader on
the real column layout, not for model-quality claims. The 24 `ind_*_ult1` flags become holdings
at that month's end; a missing flag counts as not held and is counted in meta.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sources.extensions import EXTRAS_TABLE, extras_from_source
from sources.public.canonical import (
    FILLED_DEFAULTS,
    customers_frame,
    dates_years_before,
    empty_table,
    holdings_from_flags,
    products_frame,
    value_counts,
)
from sources.public.reader import (
    Column,
    cell_violation,
    file_sha256,
    raise_if_any,
    read_checked_csv,
    resolve_source_file,
)
from sources.public.result import PublicImport

FILE_NAME = "trainsubset.csv"
MISSING = ("", "NA")
GENDER = {"H": "M", "V": "F"}
SEGMENT = {"01 - TOP": "affluent", "02 - PARTICULARES": "mass", "03 - UNIVERSITARIO": "mass"}
# flag, product_id, name_zh, name_en, category, risk_level, is_credit
CATALOGUE = (
    ("ind_ahor_fin_ult1", "AHOR_FIN", "储蓄账户", "Saving account", "deposit", "R1", False),
    ("ind_aval_fin_ult1", "AVAL_FIN", "银行保函", "Guarantee", "personal_loan", "R1", True),
    ("ind_cco_fin_ult1", "CCO_FIN", "活期账户", "Current account", "deposit", "R1", False),
    ("ind_cder_fin_ult1", "CDER_FIN", "衍生品账户", "Derivatives account", "wealth", "R5", False),
    ("ind_cno_fin_ult1", "CNO_FIN", "工资账户", "Payroll account", "deposit", "R1", False),
    ("ind_ctju_fin_ult1", "CTJU_FIN", "少儿账户", "Junior account", "deposit", "R1", False),
    ("ind_ctma_fin_ult1", "CTMA_FIN", "Más 个人账户", "Más particular account", "deposit", "R1", False),
    ("ind_ctop_fin_ult1", "CTOP_FIN", "个人账户", "Particular account", "deposit", "R1", False),
    ("ind_ctpp_fin_ult1", "CTPP_FIN", "个人增值账户", "Particular Plus account", "deposit", "R1", False),
    ("ind_deco_fin_ult1", "DECO_FIN", "短期存款", "Short-term deposit", "deposit", "R1", False),
    ("ind_deme_fin_ult1", "DEME_FIN", "中期存款", "Medium-term deposit", "deposit", "R1", False),
    ("ind_dela_fin_ult1", "DELA_FIN", "长期存款", "Long-term deposit", "deposit", "R1", False),
    ("ind_ecue_fin_ult1", "ECUE_FIN", "电子账户", "e-account", "deposit", "R1", False),
    ("ind_fond_fin_ult1", "FOND_FIN", "基金", "Funds", "fund", "R3", False),
    ("ind_hip_fin_ult1", "HIP_FIN", "住房按揭贷款", "Mortgage", "mortgage", "R1", True),
    ("ind_plan_fin_ult1", "PLAN_FIN", "养老金计划", "Pension plan", "insurance", "R2", False),
    ("ind_pres_fin_ult1", "PRES_FIN", "贷款", "Loan", "personal_loan", "R1", True),
    ("ind_reca_fin_ult1", "RECA_FIN", "代缴税费", "Tax payment service", "deposit", "R1", False),
    ("ind_tjcr_fin_ult1", "TJCR_FIN", "信用卡", "Credit card", "credit_card", "R1", True),
    ("ind_valo_fin_ult1", "VALO_FIN", "证券账户", "Securities", "wealth", "R4", False),
    ("ind_viv_fin_ult1", "VIV_FIN", "购房储蓄账户", "Home account", "deposit", "R1", False),
    ("ind_nomina_ult1", "NOMINA", "工资代发", "Payroll", "deposit", "R1", False),
    ("ind_nom_pens_ult1", "NOM_PENS", "养老金代发", "Pension payments", "deposit", "R1", False),
    ("ind_recibo_ult1", "RECIBO", "直接扣款", "Direct debit", "deposit", "R1", False),
)
FLAGS = [row[0] for row in CATALOGUE]
# Columns with no canonical place: the bank's own attributes (`customer_extras`, `x_<name>`), by kind.
EXTRAS = {"ind_empleado": "categorical", "pais_residencia": "categorical", "ind_nuevo": "numeric",
          "antiguedad": "numeric", "indrel": "numeric", "indrel_1mes": "categorical", "tiprel_1mes": "categorical",
          "indresi": "categorical", "indext": "categorical", "canal_entrada": "categorical",
          "indfall": "categorical", "tipodom": "numeric", "cod_prov": "categorical", "nomprov": "categorical",
          "ind_actividad_cliente": "numeric"}
# Left out: a date after the observation month (the future, as of fecha_dato), and a column with no value.
IGNORED = {"ult_fec_cli_1t": "the last date as primary customer, months after fecha_dato: not known at the snapshot",
           "conyuemp": "blank in every row of the sample"}

COLUMNS = (
    Column("fecha_dato", "date", date_format="%Y-%m-%d"),
    Column("ncodpers", "number", is_whole=True, is_unique=True),
    Column("sexo", allowed=tuple(GENDER), is_nullable=True),
    Column("age", "number", min_value=0, is_whole=True, is_nullable=True),
    Column("fecha_alta", "date", date_format="%Y-%m-%d", is_nullable=True),
    Column("renta", "number", min_value=0, is_nullable=True),
    Column("segmento", allowed=tuple(SEGMENT), is_nullable=True),
    Column("ind_actividad_cliente", "number", allowed=(0, 1), is_nullable=True),
    *(Column(name, "number" if kind == "numeric" else "text", is_nullable=True)
      for name, kind in EXTRAS.items() if name != "ind_actividad_cliente"),
    *(Column(flag, "number", allowed=(0, 1), is_nullable=True) for flag in FLAGS),
)

MAPPING = {
    "fecha_dato": "the observation date: ages are taken at it, holdings are at its month end",
    "ncodpers": "customers.external_id (customer_id is C + file order, zero-padded)",
    "sexo": "customers.gender: H → M, V → F, missing → U. Kaggle's dictionary does not define the "
            "codes; this is the common reading (H hombre) and is not verified",
    "age": "customers.birth_date = fecha_dato minus age and a half years (padding stripped; NA → null)",
    "fecha_alta": "customers.join_date",
    "renta": "customers.income_monthly = renta / 12 (renta is annual gross household income)",
    "segmento": "customers.segment: 01 - TOP → affluent, 02 - PARTICULARES → mass, "
                "03 - UNIVERSITARIO → mass, missing → mass (02 and 03 are no longer told apart; "
                "counts in meta.segment_counts)",
    "canal_entrada": "customer_extras.canal_entrada (categorical; counts in meta.canal_entrada_counts)",
    "ind_actividad_cliente": "customer_extras.ind_actividad_cliente (numeric; counts in "
                             "meta.active_customer_counts)",
    "ind_*_ult1 (24 flags)": "products (meta.products) and a holding (balance 0: unknown) at the "
                             "month end for every flag 1; a missing flag is not held (meta.missing_flags)",
    "other columns": "customer_extras (meta.columns gives each one's kind): ind_empleado, pais_residencia, "
                     "ind_nuevo, antiguedad, indrel, indrel_1mes (1.0 read as 1), tiprel_1mes, indresi, indext, "
                     "indfall, tipodom, cod_prov, nomprov",
    **{column: f"not kept: {why}" for column, why in IGNORED.items()},
}


def import_santander(path: Path) -> PublicImport:
    """Map trainsubset.csv (the file or its folder) to canonical tables and meta."""
    file = resolve_source_file(path, FILE_NAME)
    src = read_checked_csv(file, COLUMNS, missing=MISSING)
    observed = _single_month(file, src["fecha_dato"])
    snapshot = observed + pd.offsets.MonthEnd(0)
    customers = customers_frame(
        len(src),
        external_id=src["ncodpers"].astype("int64").astype(str),
        gender=src["sexo"].map(GENDER).fillna("U"),
        birth_date=dates_years_before(src["age"], observed),
        join_date=src["fecha_alta"],
        segment=src["segmento"].map(SEGMENT).fillna("mass"),
        income_monthly=src["renta"] / 12,
    )
    flags = src[FLAGS].fillna(0).to_numpy()
    product_ids = [row[1] for row in CATALOGUE]
    tables = {
        "customers": customers,
        "products": products_frame([row[1:] for row in CATALOGUE]),
        "holdings": holdings_from_flags(customers["customer_id"].to_numpy(), flags, product_ids, snapshot),
        "events": empty_table("events"),
        "transactions": empty_table("transactions"),
        "credit": empty_table("credit"),
    }
    src["indrel_1mes"] = src["indrel_1mes"].str.replace(r"\.0$", "", regex=True)  # the file writes 1 and 1.0
    extensions, extras = extras_from_source(customers["customer_id"], src, EXTRAS)
    return PublicImport(tables=tables, meta=_meta(file, src, observed, snapshot), extensions=extensions,
                        extras=extras)


def _single_month(file: Path, observed: pd.Series) -> pd.Timestamp:
    """Return the file's one observation date; rows with another date are violations."""
    first = observed.iloc[0]
    other = observed != first
    raise_if_any(file, [
        cell_violation(file, int(i) + 1, "fecha_dato", "single_month",
                       f"expected one month like row 1 ({first:%Y-%m-%d}); got {observed[i]:%Y-%m-%d}")
        for i in other[other].index])
    return first


def _meta(file: Path, src: pd.DataFrame, observed: pd.Timestamp, snapshot: pd.Timestamp) -> dict[str, object]:
    missing_flags = {flag: int(n) for flag, n in src[FLAGS].isna().sum().items() if n}
    return {
        "source": "santander",
        "portfolio": "santander",  # its models, champions and bands are its own
        "currency": "EUR",
        "dataset": "Kaggle Santander Product Recommendation, head sample of train_ver2.csv",
        "file": file.name,
        "sha256": file_sha256(file),
        "rows": len(src),
        "single_month": True,
        "observed": observed.date().isoformat(),
        "snapshot_date": snapshot.date().isoformat(),
        "as_of": None,
        "label": None,
        "not_for_quality_claims": "one month and the head block of the file (not a random sample): "
                                  "no adoption labels can be derived; use it to test loading only",
        "mapping": MAPPING,
        "columns": _lineage(),
        "extensions": {"table": EXTRAS_TABLE, "attributes": len(EXTRAS)},
        "products": {flag: pid for flag, pid, *_ in CATALOGUE},
        "holdings_per_product": {pid: int(src[flag].fillna(0).sum()) for flag, pid, *_ in CATALOGUE},
        "missing_flags": {"treated_as": "not held", "total": sum(missing_flags.values()),
                          "by_flag": missing_flags},
        "segment_counts": value_counts(src["segmento"]),
        "canal_entrada_counts": value_counts(src["canal_entrada"]),
        "active_customer_counts": value_counts(src["ind_actividad_cliente"].astype("Int64")),
        "missing_values": {c: int(src[c].isna().sum())
                           for c in ("sexo", "age", "fecha_alta", "renta", "segmento")},
        "not_in_source": ["events", "transactions", "credit", "balances", "city_tier", "occupation"],
        "filled_defaults": FILLED_DEFAULTS,
    }


def _lineage() -> list[dict[str, object]]:
    """source.json `columns`: what became of every source column (role, target, kind)."""
    mapped = {"sexo": ("customers.gender", "categorical"), "age": ("customers.birth_date", "numeric"),
              "fecha_alta": ("customers.join_date", "numeric"), "renta": ("customers.income_monthly", "numeric"),
              "segmento": ("customers.segment", "categorical")}
    columns: list[dict[str, object]] = [
        {"source": "fecha_dato", "role": "mapped", "target": "holdings.snapshot_date", "kind": "numeric"},
        {"source": "ncodpers", "role": "id", "target": "customers.external_id", "kind": None},
        *({"source": c, "role": "mapped", "target": t, "kind": k} for c, (t, k) in mapped.items()),
        *({"source": c, "role": "extra", "target": f"extra.{c}", "kind": k} for c, k in EXTRAS.items()),
        *({"source": c, "role": "ignored", "target": None, "kind": None} for c in IGNORED),
        *({"source": f, "role": "mapped", "target": "holdings.product_id", "kind": "categorical"} for f in FLAGS),
    ]
    return columns
