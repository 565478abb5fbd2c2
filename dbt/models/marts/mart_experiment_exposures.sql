{#
    One row per (experiment, user): the variant, the first exposure and the windows the results
    mart measures in. Built from the assignments file alone, so it works for any experiment in
    raw.experiment_assignments (generated or a real export) and is empty when there is none.

    An experiment runs from its first exposure to the end of the day of its last one: the file
    carries no end date, and the treatment is live at least until the last user was assigned.
    Each user's analysis window starts at their exposure and lasts
    `experiment_analysis_window_days`, cut at the experiment's end (after it, nobody is treated
    and the lift would be diluted). The pre-exposure window is the same user's
    `experiment_pre_window_days` before exposure, the covariate CUPED uses.

    The segment columns come from the user's first session at or after exposure (the browser
    and channel they saw the variant on), falling back to the sign-up channel.
#}
{%- set analysis_window_days = var('experiment_analysis_window_days', 28) -%}
{%- set pre_window_days = var('experiment_pre_window_days', 56) -%}

with

assignments as (
    select * from {{ ref('stg_thelook__experiment_assignments') }}
),

users as (
    select * from {{ ref('stg_thelook__users') }}
),

sessions as (
    select * from {{ ref('int_sessions') }}
),

experiment_spans as (
    select
        experiment_id,
        min(assigned_at) as experiment_started_at,
        {{ dbt.dateadd('day', 1, dbt.date_trunc('day', 'max(assigned_at)')) }} as experiment_ended_at
    from assignments
    group by experiment_id
),

exposure_sessions as (
    select
        assignments.experiment_id,
        assignments.user_id,
        sessions.traffic_source,
        sessions.browser,
        row_number() over (
            partition by assignments.experiment_id, assignments.user_id
            order by sessions.started_at, sessions.session_id
        ) as session_rank
    from assignments
    inner join sessions
        on sessions.user_id = assignments.user_id
        and sessions.started_at >= assignments.assigned_at
),

first_exposure_sessions as (
    select * from exposure_sessions where session_rank = 1
),

windows as (
    select
        assignments.experiment_id,
        assignments.user_id,
        assignments.variant,
        assignments.assigned_at as first_exposed_at,
        experiment_spans.experiment_started_at,
        experiment_spans.experiment_ended_at,
        {{ dbt.dateadd('day', -pre_window_days, 'assignments.assigned_at') }} as pre_window_started_at,
        case
            when {{ dbt.dateadd('day', analysis_window_days, 'assignments.assigned_at') }}
                < experiment_spans.experiment_ended_at
                then {{ dbt.dateadd('day', analysis_window_days, 'assignments.assigned_at') }}
            else experiment_spans.experiment_ended_at
        end as analysis_window_ended_at,
        coalesce(first_exposure_sessions.traffic_source, users.traffic_source, 'Unknown') as traffic_source,
        coalesce(first_exposure_sessions.browser, 'Unknown') as browser,
        coalesce(users.country, 'Unknown') as country
    from assignments
    inner join experiment_spans on experiment_spans.experiment_id = assignments.experiment_id
    left join first_exposure_sessions
        on first_exposure_sessions.experiment_id = assignments.experiment_id
        and first_exposure_sessions.user_id = assignments.user_id
    left join users on users.user_id = assignments.user_id
),

final as (
    select
        cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
        cast(user_id as {{ dbt.type_bigint() }}) as user_id,
        cast(variant as {{ dbt.type_string() }}) as variant,
        cast(first_exposed_at as {{ type_timestamptz() }}) as first_exposed_at,
        cast(first_exposed_at as date) as exposure_date,
        cast(experiment_started_at as {{ type_timestamptz() }}) as experiment_started_at,
        cast(experiment_ended_at as {{ type_timestamptz() }}) as experiment_ended_at,
        cast(pre_window_started_at as {{ type_timestamptz() }}) as pre_window_started_at,
        cast(analysis_window_ended_at as {{ type_timestamptz() }}) as analysis_window_ended_at,
        cast({{ analysis_window_days }} as {{ dbt.type_int() }}) as analysis_window_days,
        cast({{ pre_window_days }} as {{ dbt.type_int() }}) as pre_window_days,
        cast(traffic_source as {{ dbt.type_string() }}) as traffic_source,
        cast(browser as {{ dbt.type_string() }}) as browser,
        cast(country as {{ dbt.type_string() }}) as country
    from windows
)

select * from final
