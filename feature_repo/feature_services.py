"""`churn_v1`: the one feature set both training and serving ask for by name, so the model
and the online service can never disagree about which features exist."""

from feast import FeatureService
from feature_views import user_conversion, user_engagement, user_profile, user_rfm

from ecom.features.contract import FEATURE_SERVICE

churn_v1 = FeatureService(
    name=FEATURE_SERVICE,
    features=[user_rfm, user_engagement, user_conversion, user_profile],
    description="Churn model features: RFM, engagement, conversion and profile.",
    tags={"model": "churn_prediction_advanced"},
)
