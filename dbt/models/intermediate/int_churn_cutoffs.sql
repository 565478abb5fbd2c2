{#
    The churn cutoff dates, one row each: the `churn_history_cutoffs` most recent weekly dates
    (Mondays, stepping back `churn_cutoff_interval_days`) on or before the scoring date, plus the
    scoring date itself. Cutoffs are midnight UTC; a cutoff's features see only data before it,
    its label looks `churn_label_horizon_days` ahead and is complete only when the data reaches
    that far.
#}
{%- set interval_days = var('churn_cutoff_interval_days') | int -%}
{%- set history_cutoffs = var('churn_history_cutoffs') | int -%}
{%- set window_days = var('churn_feature_window_days') | int -%}
{%- set horizon_days = var('churn_label_horizon_days') | int -%}

with

clock as (
    select * from {{ ref('int_data_clock') }}
),

steps as (
    {{ dbt.generate_series(history_cutoffs) }}
),

anchor as (
    select
        data_max_at,
        as_of_date,
        cast({{ dbt.date_trunc('week', 'as_of_date') }} as date) as anchor_date
    from clock
),

history_cutoffs as (
    select
        cast({{ dbt.dateadd('day', '-1 * ' ~ interval_days ~ ' * (steps.generated_number - 1)', 'anchor.anchor_date') }} as date) as cutoff_date,
        true as is_history_cutoff,
        false as is_scoring_cutoff
    from anchor
    cross join steps
),

scoring_cutoff as (
    select
        as_of_date as cutoff_date,
        false as is_history_cutoff,
        true as is_scoring_cutoff
    from clock
),

combined as (
    select
        cutoff_date,
        max(case when is_history_cutoff then 1 else 0 end) as is_history_cutoff,
        max(case when is_scoring_cutoff then 1 else 0 end) as is_scoring_cutoff
    from (
        select * from history_cutoffs
        union all
        select * from scoring_cutoff
    ) as all_cutoffs
    group by cutoff_date
),

final as (
    select
        combined.cutoff_date,
        cast(combined.cutoff_date as {{ type_timestamptz() }}) as cutoff_at,
        cast({{ dbt.dateadd('day', -window_days, 'combined.cutoff_date') }} as date) as window_start_date,
        cast({{ dbt.dateadd('day', horizon_days, 'combined.cutoff_date') }} as date) as label_horizon_end_date,
        cast(cast({{ dbt.dateadd('day', horizon_days, 'combined.cutoff_date') }} as date) as {{ type_timestamptz() }}) as label_horizon_end_at,
        case when combined.is_history_cutoff = 1 then true else false end as is_history_cutoff,
        case when combined.is_scoring_cutoff = 1 then true else false end as is_scoring_cutoff,
        case
            when cast(cast({{ dbt.dateadd('day', horizon_days, 'combined.cutoff_date') }} as date) as {{ type_timestamptz() }}) <= clock.data_max_at
                then true
            else false
        end as has_complete_label,
        clock.data_max_at,
        clock.as_of_date
    from combined
    cross join clock
)

select * from final
