"""Arbitration: rank allowed candidates by expected value = P(adopt) × margin × lever (DESIGN §7)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from features.online.reader import OnlineFeatures
from models.recommender import Ranked as Ranking
from models.recommender import RecommenderScorer
from nbo.errors import ContractViolation

DEFAULT_LEVERS = Path(__file__).with_name("levers.toml")


@dataclass(frozen=True)
class Levers:
    """Business levers by product and category, and the lift for customers at risk of leaving."""

    version: str
    by_category: dict[str, float]
    by_product: dict[str, float]
    retention_threshold: float
    retention_lift: float
    retention_categories: frozenset[str]
    default_products: tuple[str, ...]

    def lever(self, product_id: str, category: str, churn_probability: float | None) -> float:
        """The multiplier for one product for one customer."""
        base = self.by_product.get(product_id, self.by_category.get(category, 1.0))
        at_risk = churn_probability is not None and churn_probability >= self.retention_threshold
        if at_risk and category in self.retention_categories:
            return base * self.retention_lift
        return base


@dataclass(frozen=True)
class Candidate:
    """An allowed product with the ranker's adoption probability."""

    product_id: str
    category: str
    p_adopt: float
    margin: float


@dataclass(frozen=True)
class Ranked:
    """A candidate with its expected value."""

    candidate: Candidate
    lever: float
    score: float


def load_levers(path: Path = DEFAULT_LEVERS) -> Levers:
    """Read the levers file; a malformed file is a clear error, never a silent default."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        retention = raw["retention"]
        levers = Levers(
            version=str(raw["version"]),
            by_category={k: float(v) for k, v in raw.get("category", {}).items()},
            by_product={k: float(v) for k, v in raw.get("product", {}).items()},
            retention_threshold=float(retention["churn_probability_at_least"]),
            retention_lift=float(retention["lift"]),
            retention_categories=frozenset(retention["categories"]),
            default_products=tuple(raw["default_offers"]["products"]),
        )
    except (OSError, KeyError, TypeError, ValueError, tomllib.TOMLDecodeError) as err:
        raise ContractViolation(f"{path}: invalid levers file: {err}") from err
    if any(v < 0 for v in [*levers.by_category.values(), *levers.by_product.values(), levers.retention_lift]):
        raise ContractViolation(f"{path}: levers must not be negative")
    return levers


def arbitrate(candidates: list[Candidate], levers: Levers, churn_probability: float | None) -> list[Ranked]:
    """Return the candidates by expected value, highest first (ties by product id, for stability)."""
    ranked = []
    for c in candidates:
        lever = levers.lever(c.product_id, c.category, churn_probability)
        ranked.append(Ranked(c, lever, c.p_adopt * c.margin * lever))
    return sorted(ranked, key=lambda r: (-r.score, r.candidate.product_id))


def choose(scorer: RecommenderScorer, features: OnlineFeatures, allowed: set[str], levers: Levers,
           churn_probability: float | None, k: int) -> tuple[Ranking, list[Ranked]]:
    """Rank the allowed candidates with `scorer` (P(adopt)), arbitrate, keep the best k: the scorer's
    ranking (for explanations) and the k chosen."""
    ranked = scorer.rank(features.customer_id, features.values, allowed)
    records = scorer.catalogue.records
    candidates = [Candidate(p, str(records[p]["category"]), float(pa), float(records[p]["margin_rate"]))
                  for p, pa in zip(ranked.product_ids, ranked.p_adopt, strict=True)]
    return ranked, arbitrate(candidates, levers, churn_probability)[:k]
