"""Which arm of a campaign a customer is in: the control group or one A/B variant, by a stable hash.

The bucket is `serving.decisions.variants.bucket_of` of "campaign id:customer id", so a customer
keeps their arm for the whole campaign (and on every rerun), and arms of different campaigns are
independent of each other and of the service's champion/challenger/control split. The control group
is the bottom `control_share` of [0, 1); the rest is cut into the variants in their order, each in
proportion to its share. A campaign without variants has one arm, MAIN.
"""

from __future__ import annotations

from serving.campaigns.spec import CampaignSpec
from serving.decisions.variants import CONTROL, bucket_of

MAIN = "main"


def assign_arm(spec: CampaignSpec, customer_id: str) -> str:
    """CONTROL, a variant's name, or MAIN for a campaign without variants."""
    bucket = bucket_of(f"{spec.id}:{customer_id}")
    if bucket < spec.control_share:
        return CONTROL
    if not spec.variants:
        return MAIN
    place = (bucket - spec.control_share) / (1 - spec.control_share)  # uniform in [0, 1) again
    reached = 0.0
    for variant in spec.variants:
        reached += variant.share
        if place < reached:
            return variant.name
    return spec.variants[-1].name  # shares add up to 1 within rounding: the last takes the rest
