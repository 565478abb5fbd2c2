"""Orders, order items and inventory items, derived from the purchase events.

Every purchasing session becomes one order at exactly its purchase events' timestamp (one
purchase event per item, all at one instant), with one order item per carted product of that
session, so the events and the orders tell the same story. Statuses
are drawn with TheLook's mix; the status timestamps follow the status (shipped before delivered
before returned, NULL where the status says the step has not happened) and an order whose next
step would fall after the end of the data keeps the earlier status instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecom.synth.calendar import Timeline, days_to_datetime64
from ecom.synth.catalog import Catalogue
from ecom.synth.events import EVENT_PURCHASE, Events, SessionLayout
from ecom.synth.sessions import Sessions

STATUS_SHARES = {
    "Shipped": 0.30,
    "Complete": 0.25,
    "Processing": 0.20,
    "Cancelled": 0.15,
    "Returned": 0.10,
}
# How far each status has progressed: 0 processing/cancelled, 1 shipped, 2 delivered, 3 returned.
STATUS_STAGE = {"Processing": 0, "Cancelled": 0, "Shipped": 1, "Complete": 2, "Returned": 3}
STAGE_STATUS = {0: "Processing", 1: "Shipped", 2: "Complete", 3: "Returned"}
UNSOLD_STOCK_PER_SOLD_ITEM = 1.7  # TheLook holds ~490k inventory items for ~180k sold


@dataclass(frozen=True)
class OrderTables:
    orders: pd.DataFrame
    order_items: pd.DataFrame
    inventory_items: pd.DataFrame
    order_owner: np.ndarray  # user index per order (aligned with `orders`)
    order_days: np.ndarray  # creation time in days per order


def _status_timestamps(
    rng: np.random.Generator, timeline: Timeline, created_days: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Status per order and the shipped / delivered / returned times (NaN where not reached)."""
    n = len(created_days)
    names = np.array(list(STATUS_SHARES), dtype=object)
    status = names[rng.choice(len(names), n, p=np.array(list(STATUS_SHARES.values())))]
    stage = pd.Series(status).map(STATUS_STAGE).to_numpy()
    shipped = created_days + rng.uniform(0.05, 3.0, n)
    delivered = shipped + rng.uniform(0.0, 5.0, n)  # TheLook's 0-5 days: mean 2.5
    returned = delivered + rng.uniform(1.0, 12.0, n)
    # Downgrade steps that would land after the data ends: the order simply has not got there yet.
    end = timeline.span_days
    reachable = (
        (shipped < end).astype(int)
        + ((shipped < end) & (delivered < end)).astype(int)
        + ((shipped < end) & (delivered < end) & (returned < end)).astype(int)
    )
    cancelled = status == "Cancelled"
    stage = np.where(cancelled, 0, np.minimum(stage, reachable))
    status = np.where(cancelled, "Cancelled", pd.Series(stage).map(STAGE_STATUS).to_numpy())
    shipped = np.where(stage >= 1, shipped, np.nan)
    delivered = np.where(stage >= 2, delivered, np.nan)
    returned = np.where(stage >= 3, returned, np.nan)
    return status.astype(object), shipped, delivered, returned


def _timestamps(days: np.ndarray) -> np.ndarray:
    """datetime64 with NaT where days is NaN."""
    values = days_to_datetime64(np.nan_to_num(days, nan=0.0))
    return np.where(np.isnan(days), np.datetime64("NaT"), values)


def build_order_tables(
    rng: np.random.Generator,
    timeline: Timeline,
    sessions: Sessions,
    layout: SessionLayout,
    events: Events,
    catalogue: Catalogue,
    user_ids: np.ndarray,
    user_gender: np.ndarray,
) -> OrderTables:
    # The first purchase event of each session (an order's items' purchases are consecutive).
    purchase = (events.event_type == EVENT_PURCHASE) & np.concatenate(
        [[True], events.event_type[:-1] != EVENT_PURCHASE]
    )
    purchase_session = events.session[purchase]
    order_days = events.time_days[purchase]
    by_time = np.argsort(order_days, kind="stable")
    purchase_session, order_days = purchase_session[by_time], order_days[by_time]
    n_orders = len(purchase_session)
    order_ids = np.arange(1, n_orders + 1)
    owner = sessions.owner[purchase_session]

    order_of_session = np.full(len(sessions), -1, dtype=np.int64)
    order_of_session[purchase_session] = np.arange(n_orders)
    item_order = order_of_session[layout.item_session]
    sold = item_order >= 0
    item_order = item_order[sold]
    item_product_row = layout.item_product_row[sold]
    item_sort = np.argsort(item_order, kind="stable")
    item_order, item_product_row = item_order[item_sort], item_product_row[item_sort]
    n_items = np.bincount(item_order, minlength=n_orders)

    status, shipped, delivered, returned = _status_timestamps(rng, timeline, order_days)
    created = days_to_datetime64(order_days)
    orders = pd.DataFrame(
        {
            "order_id": order_ids,
            "user_id": user_ids[owner],
            "status": status,
            "gender": user_gender[owner],
            "created_at": created,
            "returned_at": _timestamps(returned),
            "shipped_at": _timestamps(shipped),
            "delivered_at": _timestamps(delivered),
            "num_of_item": n_items,
        }
    )

    products = catalogue.products
    n_sold = len(item_order)
    inventory_ids_sold = np.arange(1, n_sold + 1)
    order_items = pd.DataFrame(
        {
            "id": np.arange(1, n_sold + 1),
            "order_id": order_ids[item_order],
            "user_id": orders["user_id"].to_numpy()[item_order],
            "product_id": products["id"].to_numpy()[item_product_row],
            "inventory_item_id": inventory_ids_sold,
            "status": status[item_order],
            "created_at": created[item_order],
            "shipped_at": orders["shipped_at"].to_numpy()[item_order],
            "delivered_at": orders["delivered_at"].to_numpy()[item_order],
            "returned_at": orders["returned_at"].to_numpy()[item_order],
            "sale_price": products["retail_price"].to_numpy()[item_product_row],
        }
    )

    inventory_items = _inventory_items(
        rng, timeline, catalogue, item_product_row, order_days[item_order], status[item_order]
    )
    return OrderTables(
        orders=orders,
        order_items=order_items,
        inventory_items=inventory_items,
        order_owner=owner,
        order_days=order_days,
    )


def _inventory_items(
    rng: np.random.Generator,
    timeline: Timeline,
    catalogue: Catalogue,
    sold_product_row: np.ndarray,
    sold_days: np.ndarray,
    sold_status: np.ndarray,
) -> pd.DataFrame:
    """One stock unit per order item (ids 1..n, sold unless the order was cancelled) plus unsold stock."""
    n_sold = len(sold_product_row)
    n_unsold = round(UNSOLD_STOCK_PER_SOLD_ITEM * n_sold)
    unsold_department = rng.integers(0, 2, n_unsold)
    unsold_product_row = catalogue.sample_products(rng, unsold_department)
    # Stock arrives up to four months before it sells; unsold stock arrives any time.
    received_sold = sold_days - rng.uniform(0.5, 120.0, n_sold)
    received_sold = np.where(received_sold < 0, sold_days * rng.random(n_sold), received_sold)
    received_unsold = rng.uniform(0.0, timeline.span_days - 1.0, n_unsold)
    product_row = np.concatenate([sold_product_row, unsold_product_row])
    sold_at = np.concatenate(
        [np.where(sold_status == "Cancelled", np.nan, sold_days), np.full(n_unsold, np.nan)]
    )
    products = catalogue.products
    return pd.DataFrame(
        {
            "id": np.arange(1, n_sold + n_unsold + 1),
            "product_id": products["id"].to_numpy()[product_row],
            "created_at": days_to_datetime64(np.concatenate([received_sold, received_unsold])),
            "sold_at": _timestamps(sold_at),
            "cost": products["cost"].to_numpy()[product_row],
            "product_category": products["category"].to_numpy()[product_row],
            "product_name": products["name"].to_numpy()[product_row],
            "product_brand": products["brand"].to_numpy()[product_row],
            "product_retail_price": products["retail_price"].to_numpy()[product_row],
            "product_department": products["department"].to_numpy()[product_row],
            "product_sku": products["sku"].to_numpy()[product_row],
            "product_distribution_center_id": products["distribution_center_id"].to_numpy()[
                product_row
            ],
        }
    )
