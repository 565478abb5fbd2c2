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

from ecom.features.feast_internals import BuilderComputeEngine

ENGINE_TYPE = "ecom.features.engine.ProjectComputeEngine"

log = logging.getLogger(__name__)


class ArrowOutputNode(LocalOutputNode):
    """Feast's output node; online writes go as Arrow batches where the store takes them, and
    rows older than the ones written are removed where the store can (see
    `ProjectRedisOnlineStore.remove_older_rows`)."""

    def execute(self, context) -> ArrowTableValue:
        refuse = getattr(context.online_store, "refuse_older_rows", None)
        if self.feature_view.online and refuse is not None:
            refuse(context.repo_config, self.feature_view, self.get_single_table(context).data)
        output = self._write(context)
        remover = getattr(context.online_store, "remove_older_rows", None)
        if self.feature_view.online and remover is not None:
            removed = remover(context.repo_config, self.feature_view, output.data)
            if removed:
                log.info(
                    "%s: removed the rows of %d users older than the rows just written",
                    self.feature_view.name,
                    removed,
                )
        return output

    def _write(self, context) -> ArrowTableValue:
        store = context.online_store
        view = self.feature_view
        writer = getattr(store, "write_arrow_batch", None)
        if not view.online or writer is None or not store.takes_arrow(context.repo_config):
            return super().execute(context)
        table = self.get_single_table(context).data
        output = ArrowTableValue(data=table)
        context.node_outputs[self.name] = output
        if table.num_rows == 0:
            return output
        size = context.repo_config.materialization_config.online_write_batch_size
        for batch in [table] if size is None else table.to_batches(max_chunksize=size):
            writer(context.repo_config, view, batch)
        if view.offline:
            context.offline_store.offline_write_batch(
                config=context.repo_config, feature_view=view, table=table, progress=lambda _: None
            )
        return output


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
