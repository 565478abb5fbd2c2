{#
    The churn cutoff dates, one row each: the `churn_history_cutoffs` most recent weekly dates
    (Mondays, stepping back `churn_cutoff_interval_days`) on or before the scoring date, the
    scoring date itself, and `churn_seasonal_cutoffs` weekly dates around the same week in each of the
    `churn_seasonal_years` previous years (52 weeks back per year; each series ends
    `churn_seasonal_weeks_after` weeks after that week).
    The seasonal ones feed only the drift alarm's same-season history
    (mart_churn_seasonal_features): a drift check in December must know that last December moved
    the features the same way, which the recent weekly history cannot show. Cutoffs are midnight UTC; a cutoff's features see only data before it,
    its label looks `churn_label_horizon_days` ahead and is complete only when the data reaches
    that far.
#}
{%- set interval_days = var('churn_cutoff_interval_days') | int -%}
{%- set history_cutoffs = var('churn_history_cutoffs') | int -%}
{%- set window_days = var('churn_feature_window_days') | int -%}
{%- set horizon_days = var('churn_label_horizon_days') | int -%}
{%- set seasonal_cutoffs = var('churn_seasonal_cutoffs') | int -%}
{%- set seasonal_years = var('churn_seasonal_years') | int -%}
{%- set seasonal_weeks_after = var('churn_seasonal_weeks_after') | int -%}

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
        false as is_scoring_cutoff,
        false as is_seasonal_cutoff
    from anchor
    cross join steps
),
{% if seasonal_cutoffs > 0 and seasonal_years > 0 %}
seasonal_steps as (
    {{ dbt.generate_series(seasonal_cutoffs) }}
),

seasonal_years as (
    {{ dbt.generate_series(seasonal_years) }}
),

seasonal_cutoffs as (
    -- 364 days = 52 weeks: a Monday a year back is a Monday.
    select
        cast({{ dbt.dateadd('day', '-1 * (364 * seasonal_years.generated_number - ' ~ 7 * seasonal_weeks_after ~ ' + ' ~ interval_days ~ ' * (seasonal_steps.generated_number - 1))', 'anchor.anchor_date') }} as date) as cutoff_date,
        false as is_history_cutoff,
        false as is_scoring_cutoff,
        true as is_seasonal_cutoff
    from anchor
    cross join seasonal_years
    cross join seasonal_steps
),
{% endif %}

scoring_cutoff as (
    select
        as_of_date as cutoff_date,
        false as is_history_cutoff,
        true as is_scoring_cutoff,
        false as is_seasonal_cutoff
    from clock
),

combined as (
    select
        cutoff_date,
        max(case when is_history_cutoff then 1 else 0 end) as is_history_cutoff,
        max(case when is_scoring_cutoff then 1 else 0 end) as is_scoring_cutoff,
        max(case when is_seasonal_cutoff then 1 else 0 end) as is_seasonal_cutoff
    from (
        select * from history_cutoffs
        union all
        select * from scoring_cutoff
        {%- if seasonal_cutoffs > 0 and seasonal_years > 0 %}
        union all
        select * from seasonal_cutoffs
        {%- endif %}
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
        case when combined.is_seasonal_cutoff = 1 then true else false end as is_seasonal_cutoff,
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
