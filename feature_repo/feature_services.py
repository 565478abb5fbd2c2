"""`churn_v1`: the one feature set both training and serving ask for by name, so the model
and the online service can never disagree about which features exist."""

from feature_views import user_conversion, user_engagement, user_profile, user_rfm

from ecom.features.views import churn_service

churn_v1 = churn_service([user_rfm, user_engagement, user_conversion, user_profile])
