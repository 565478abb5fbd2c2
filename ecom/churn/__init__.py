"""Churn: from a point-in-time training set to a champion in MLflow and scores per user.

`split` cuts the training set by cutoff with an embargo, `models` builds and fits the
candidates, `evaluation` scores them, `registry` holds the champion gate and the MLflow
registry, `training` runs all of it (`ecom train`) and `scoring` scores the snapshot in batch
(`ecom score`).
"""
