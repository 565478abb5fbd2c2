"""Feast's local compute engine, with materialization handing Arrow batches straight to the
online store, for `feature_store.yaml` to name as its `batch_engine`.

Feast's materialization turns every value of an Arrow batch into a Python object and a protobuf
message (`_convert_arrow_to_proto`: a `pd.isnull` per value, an entity-key message and a
`datetime` per row per view) before the online store serializes them again: half of
materialization's time (benchmarks/results/features.md). Feast has no public hook for the plan
builder; `feast_internals.BuilderComputeEngine` is the one place that reaches for it. When the
online store offers `write_arrow_batch` (the project's Redis store does, with `skip_dedup` and
no key TTL) the batch goes to it as Arrow, and the store writes the same bytes from the columns;
otherwise, and for offline writes, this is Feast's own node. After writing, the store removes
the view's rows that are older than the newest row written, so a materialized snapshot replaces
the last one whole: users who left it are not served stale rows, and `feast materialize` leaves
the same store as `ecom features materialize`. Before writing, a store holding newer rows than
the batch refuses it (`OlderSnapshot`): an older snapshot never overwrites a newer one,
whichever command runs. Everything else (reading the source, the latest-row query, filters,
jobs) is Feast's local engine unchanged, and the `feast` CLI loads this class from the YAML too.
"""

from __future__ import annotations

import logging
from typing import Literal

from feast.infra.compute_engines.local.arrow_table_value import ArrowTableValue
from feast.infra.compute_engines.local.compute import LocalComputeEngineConfig
from feast.infra.compute_engines.local.feature_builder import LocalFeatureBuilder
from feast.infra.compute_engines.local.nodes import LocalOutputNode

from ecom.features import feast_internals as internals
from ecom.features.feast_internals import BuilderComputeEngine
from ecom.features.online_store import ProjectRedisOnlineStore

ENGINE_TYPE = "ecom.features.engine.ProjectComputeEngine"

log = logging.getLogger(__name__)


class ArrowOutputNode(LocalOutputNode):
    """Feast's output node; online writes into the project's Redis store go through
    `write_online_snapshot` (Arrow batches, older snapshots refused, leavers removed), any other
    store's through Feast's own node."""

    def execute(self, context) -> ArrowTableValue:
        store = context.online_store
        view = self.feature_view
        if not view.online or not isinstance(store, ProjectRedisOnlineStore):
            return super().execute(context)
        table = self.get_single_table(context).data
        output = ArrowTableValue(data=table)
        context.node_outputs[self.name] = output
        write_online_snapshot(store, context.repo_config, view, table)
        if view.offline and table.num_rows:
            context.offline_store.offline_write_batch(
                config=context.repo_config, feature_view=view, table=table, progress=lambda _: None
            )
        return output


def write_online_snapshot(online_store, config, view, table) -> int:
    """Write one view's snapshot rows (an Arrow table of its source's columns) into the
    project's Redis store: refuse it when the store holds newer rows (`OlderSnapshot`), write
    it in batches of the repo's size (as Arrow when the store takes it, else Feast's own row
    conversion and write), then remove the rows older than it. Feast's materialization comes
    here through `ArrowOutputNode`, the Spark engine's directly (`ecom.spark.online`); returns
    how many users' rows were removed."""
    online_store.refuse_older_rows(config, view, table)
    size = config.materialization_config.online_write_batch_size
    join_keys = {entity.name: entity.dtype.to_value_type() for entity in view.entity_columns}
    batches = [table] if size is None else table.to_batches(max_chunksize=size)
    for batch in batches if table.num_rows else []:
        if online_store.takes_arrow(config):
            online_store.write_arrow_batch(config, view, batch)
        else:  # dedup or a key TTL asked for: Feast's own conversion and write
            rows = internals.arrow_rows(batch, view, join_keys)
            online_store.online_write_batch(config, view, rows, None)
    removed = online_store.remove_older_rows(config, view, table)
    if removed:
        log.info(
            "%s: removed the rows of %d users older than the rows just written", view.name, removed
        )
    return removed


class ArrowFeatureBuilder(LocalFeatureBuilder):
    def build_output_nodes(self, view, input_node):
        node = ArrowOutputNode("output", self.dag_root.view, inputs=[input_node])
        self.nodes.append(node)
        return node


class ProjectComputeEngineConfig(LocalComputeEngineConfig):
    type: Literal["ecom.features.engine.ProjectComputeEngine"] = ENGINE_TYPE  # type: ignore[assignment]


class ProjectComputeEngine(BuilderComputeEngine):
    """Feast's local engine building its materialization plans with `ArrowFeatureBuilder`."""

    feature_builder = ArrowFeatureBuilder
