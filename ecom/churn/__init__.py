"""Churn: from a point-in-time training set to a champion in MLflow and scores per user.

`split` cuts the training set by cutoff with an embargo, `models` builds and fits the
candidates (`calibration` fits their Platt sigmoid), `evaluation` scores them, `gate` decides
whether a challenger is crowned and `registry` records it, `training` runs all of it
(`ecom train`); `predict` is the one prediction function (replaying the model's `array_form`,
proved at load by `fast_path_check`) and `scoring` scores the snapshot with it in batch
(`ecom score`).
"""
