"""Feature views over the churn marts, grouped by what they describe; schemas from the contract.

The source is the weekly history cutoffs (`mart_churn_features`, for training) plus the scoring
cutoff (`mart_churn_scoring`, what materialization writes to Redis; skipped when it falls on a
weekly cutoff, whose rows are then the same). Each row is stamped `feature_timestamp` = its
cutoff at 00:00 UTC and computed only from data strictly before it, so Feast's point-in-time
join ("latest row at or before the label's timestamp") can never see the future. Labels exist
exactly for the history rows, so the training join is at equal timestamps and needs no long
TTL; one day (ecom.features.views.FEATURE_TTL) means no weekly row ever stands in for a later
cutoff, and `feast materialize-incremental` from a fresh registry starts no earlier than a day
back. The views themselves are built by ecom.features.views, which the Spark engine shares.
"""

from entities import user
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import (
    PostgreSQLSource,
)

from ecom.features import contract
from ecom.features.views import SOURCE_DESCRIPTION, SOURCE_QUERY, contract_view

churn_features_source = PostgreSQLSource(
    name="mart_churn_features",
    query=SOURCE_QUERY.format(minimum="'-infinity'::timestamptz"),
    timestamp_field="feature_timestamp",
    description=SOURCE_DESCRIPTION,
)

# Module-level names: `feast apply` registers the FeatureView objects it finds here.
user_rfm = contract_view(contract.Group.RFM, churn_features_source, user)
user_engagement = contract_view(contract.Group.ENGAGEMENT, churn_features_source, user)
user_conversion = contract_view(contract.Group.CONVERSION, churn_features_source, user)
user_profile = contract_view(contract.Group.PROFILE, churn_features_source, user)
