{#
    The churn model's features, one row per (user, weekly cutoff) for users active in the
    feature window before the cutoff. feature_timestamp (the cutoff, midnight UTC) is Feast's
    event timestamp, so a training row for a cutoff only ever sees features as of that cutoff.
#}
{{ config(indexes=[
    {'columns': ['user_id', 'cutoff_date'], 'unique': true},
    {'columns': ['feature_timestamp', 'user_id']},
]) }}

{{ churn_feature_mart('is_history_cutoff') }}
