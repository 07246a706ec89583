"""The synthetic bank's product catalogue and the web topic each product is browsed under."""

from __future__ import annotations

import pandas as pd

# product_id, name_zh, name_en, category, risk_level, is_credit, min_amount, yield, margin, min_age, max_age, topic
_CATALOGUE = [
    ("DEP_SAVINGS", "活期储蓄", "Savings account", "deposit", "R1", False, 0, 0.002, 0.004, 0, 120, "deposit"),
    ("DEP_TIME_1Y", "一年期定期存款", "1-year time deposit", "deposit", "R1", False, 10_000, 0.017, 0.008, 18, 120, "deposit"),
    ("WM_STABLE", "稳健理财", "Stable wealth plan", "wealth", "R2", False, 10_000, 0.028, 0.012, 18, 120, "wealth"),
    ("WM_GROWTH", "进取理财", "Growth wealth plan", "wealth", "R3", False, 50_000, 0.042, 0.018, 18, 120, "wealth"),
    ("FUND_BOND", "债券基金", "Bond fund", "fund", "R2", False, 1_000, 0.035, 0.015, 18, 120, "fund"),
    ("FUND_BALANCED", "平衡型基金", "Balanced fund", "fund", "R3", False, 1_000, 0.055, 0.020, 18, 120, "fund"),
    ("FUND_EQUITY", "股票基金", "Equity fund", "fund", "R4", False, 1_000, 0.080, 0.025, 18, 120, "fund"),
    ("FUND_TECH", "科技主题基金", "Technology theme fund", "fund", "R5", False, 1_000, 0.110, 0.030, 18, 120, "fund"),
    ("GOLD_ACCUM", "积存金", "Gold accumulation plan", "gold", "R3", False, 1_000, 0.040, 0.010, 18, 120, "gold"),
    ("INS_HEALTH", "百万医疗险", "Health insurance", "insurance", "R1", False, 500, 0.0, 0.060, 0, 65, "insurance"),
    ("INS_LIFE", "定期寿险", "Term life insurance", "insurance", "R1", False, 1_000, 0.0, 0.080, 18, 60, "insurance"),
    ("INS_ANNUITY", "养老年金险", "Pension annuity", "insurance", "R2", False, 10_000, 0.030, 0.050, 30, 70, "insurance"),
    ("CC_CLASSIC", "标准信用卡", "Classic credit card", "credit_card", "R1", True, 0, 0.0, 0.030, 18, 70, "credit_card"),
    ("CC_PLATINUM", "白金信用卡", "Platinum credit card", "credit_card", "R1", True, 0, 0.0, 0.045, 22, 70, "credit_card"),
    ("LOAN_PERSONAL", "个人消费贷", "Personal loan", "personal_loan", "R1", True, 0, 0.0, 0.050, 22, 60, "loan"),
    ("LOAN_STUDY", "留学贷款", "Study-abroad loan", "personal_loan", "R1", True, 0, 0.0, 0.035, 18, 40, "study_abroad"),
    ("MORTGAGE", "住房按揭贷款", "Home mortgage", "mortgage", "R1", True, 0, 0.0, 0.070, 22, 60, "mortgage"),
    ("FX_ACCOUNT", "外汇账户", "Foreign-currency account", "fx", "R2", False, 1_000, 0.010, 0.020, 16, 120, "fx"),
]



def build_products() -> pd.DataFrame:
    """Return the catalogue as a canonical `products` table."""
    columns = ["product_id", "name_zh", "name_en", "category", "risk_level", "is_credit",
               "min_amount", "expected_yield", "margin", "min_age", "max_age"]
    df = pd.DataFrame([row[:-1] for row in _CATALOGUE], columns=columns)
    df["min_amount"] = df["min_amount"].astype(float)
    return df


def product_topics() -> list[str]:
    """Return the web topic of each catalogue product, in catalogue order."""
    return [row[-1] for row in _CATALOGUE]
