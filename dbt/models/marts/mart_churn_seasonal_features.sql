{#
    The churn features at the weekly cutoffs around the same week a year before the scoring
    date, one row per (user, cutoff): the drift alarm's same-season history
    (ecom/monitoring/drift_history.py compares each of these cutoffs with its own window at the
    live check's lag, so last year's holiday season sets how much a December check may move).
    Never trained on, labelled or served: mart_churn_features holds the training cutoffs.
#}
{{ config(indexes=[
    {'columns': ['user_id', 'cutoff_date'], 'unique': true},
]) }}

{{ churn_feature_mart('is_seasonal_cutoff') }}
