{#
    Weekly cohort retention in long format, ready for a heatmap (cohort_week down,
    weeks_since across), one row per (retention_event, cohort_type, cohort_week, weeks_since):

      retention_event 'session':  active in week N = a signed-in session that week (activity
                                  retention, as the original platform defined it)
                      'purchase': active in week N = a non-cancelled order that week
      cohort_type     'first_session' / 'first_purchase': grouped by the week (Monday) of the
                                  user's first activity of that kind
                      'signup':   grouped by the week the user signed up
      retained_users              cohort members active in exactly week N after the cohort week
                                  (N-week retention)
      retained_users_on_or_after  members active in week N or any later week (unbounded
                                  retention)

    Weeks run 0..`retention_max_weeks`, only as far as the data reaches; is_complete_period is
    false for the week still in progress.
#}
{%- set max_weeks = var('retention_max_weeks') | int -%}

with

activity_weeks as (
    select * from {{ ref('int_user_activity_weeks') }}
),

cohort_members as (
    select * from {{ ref('int_retention_cohort_members') }}
),

clock as (
    select * from {{ ref('int_data_clock') }}
),

week_offsets as (
    select generated_number - 1 as weeks_since
    from ({{ dbt.generate_series(max_weeks + 1) }}) as series
),

member_weeks as (
    select
        cohort_members.retention_event,
        cohort_members.cohort_type,
        cohort_members.cohort_week,
        cohort_members.user_id,
        cast({{ dbt.datediff('cohort_members.cohort_week', 'activity_weeks.activity_week', 'day') }} / 7 as {{ dbt.type_int() }}) as weeks_since
    from cohort_members
    inner join activity_weeks
        on activity_weeks.user_id = cohort_members.user_id
        and activity_weeks.retention_event = cohort_members.retention_event
        and activity_weeks.activity_week >= cohort_members.cohort_week
),

cohort_sizes as (
    select retention_event, cohort_type, cohort_week, count(*) as cohort_size
    from cohort_members
    group by retention_event, cohort_type, cohort_week
),

retained_in_week as (
    select retention_event, cohort_type, cohort_week, weeks_since, count(*) as retained_users
    from member_weeks
    where weeks_since <= {{ max_weeks }}
    group by retention_event, cohort_type, cohort_week, weeks_since
),

-- A member is retained "on or after" week N for every N up to their last active week, so the
-- unbounded count is a running total of last-active weeks from the far end.
last_active_week as (
    select
        retention_event,
        cohort_type,
        cohort_week,
        user_id,
        case when max(weeks_since) > {{ max_weeks }} then {{ max_weeks }} else max(weeks_since) end as last_weeks_since
    from member_weeks
    group by retention_event, cohort_type, cohort_week, user_id
),

last_week_histogram as (
    select retention_event, cohort_type, cohort_week, last_weeks_since as weeks_since, count(*) as members
    from last_active_week
    group by retention_event, cohort_type, cohort_week, last_weeks_since
),

grid as (
    select
        cohort_sizes.retention_event,
        cohort_sizes.cohort_type,
        cohort_sizes.cohort_week,
        week_offsets.weeks_since,
        cast({{ dbt.dateadd('day', '7 * week_offsets.weeks_since', 'cohort_sizes.cohort_week') }} as date) as period_week,
        cohort_sizes.cohort_size
    from cohort_sizes
    cross join week_offsets
    cross join clock
    where {{ dbt.dateadd('day', '7 * week_offsets.weeks_since', 'cohort_sizes.cohort_week') }} <= clock.data_max_at
),

on_or_after as (
    select
        grid.retention_event,
        grid.cohort_type,
        grid.cohort_week,
        grid.weeks_since,
        sum(coalesce(last_week_histogram.members, 0)) over (
            partition by grid.retention_event, grid.cohort_type, grid.cohort_week
            order by grid.weeks_since desc
            rows between unbounded preceding and current row
        ) as retained_users_on_or_after
    from grid
    left join last_week_histogram
        on last_week_histogram.retention_event = grid.retention_event
        and last_week_histogram.cohort_type = grid.cohort_type
        and last_week_histogram.cohort_week = grid.cohort_week
        and last_week_histogram.weeks_since = grid.weeks_since
),

final as (
    select
        grid.retention_event,
        grid.cohort_type,
        grid.cohort_week,
        cast(grid.weeks_since as {{ dbt.type_int() }}) as weeks_since,
        grid.period_week,
        case
            when {{ dbt.dateadd('day', 7, 'grid.period_week') }} <= clock.data_max_at then true
            else false
        end as is_complete_period,
        cast(grid.cohort_size as {{ dbt.type_int() }}) as cohort_size,
        cast(coalesce(retained_in_week.retained_users, 0) as {{ dbt.type_int() }}) as retained_users,
        {{ safe_divide('coalesce(retained_in_week.retained_users, 0)', 'grid.cohort_size') }} as retention_rate,
        cast(on_or_after.retained_users_on_or_after as {{ dbt.type_int() }}) as retained_users_on_or_after,
        {{ safe_divide('on_or_after.retained_users_on_or_after', 'grid.cohort_size') }} as unbounded_retention_rate
    from grid
    cross join clock
    left join retained_in_week
        on retained_in_week.retention_event = grid.retention_event
        and retained_in_week.cohort_type = grid.cohort_type
        and retained_in_week.cohort_week = grid.cohort_week
        and retained_in_week.weeks_since = grid.weeks_since
    inner join on_or_after
        on on_or_after.retention_event = grid.retention_event
        and on_or_after.cohort_type = grid.cohort_type
        and on_or_after.cohort_week = grid.cohort_week
        and on_or_after.weeks_since = grid.weeks_since
)

select * from final
