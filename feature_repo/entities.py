"""The one entity churn features describe: a customer, keyed by TheLook's users.id."""

from ecom.features.views import user_entity

user = user_entity()
