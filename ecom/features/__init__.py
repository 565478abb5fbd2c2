"""Features: the churn feature contract and the Feast store that serves it.

`contract` names every churn feature once (name, type, group, description); `feature_repo/`
builds its views from it, the quality suites and the generator read it. `store` drives Feast
in-process (apply, materialize, training sets, online reads) and `offline_store` is the
PostgreSQL offline-store plugin with planner settings that `feature_store.yaml` names.
"""
