"""The one entity churn features describe: a customer, keyed by TheLook's users.id."""

from feast import Entity
from feast.value_type import ValueType

user = Entity(
    name="user",
    join_keys=["user_id"],
    value_type=ValueType.INT64,
    description="A TheLook customer (users.id); every churn feature is per user and cutoff.",
)
