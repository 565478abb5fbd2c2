{#
    Weekly cohort retention in long format, ready for a heatmap (cohort_week down,
    weeks_since across), one row per (cohort_type, cohort_week, weeks_since):

      cohort_type 'first_purchase': users grouped by the week (Monday) of their first purchase
                  'signup':         users grouped by the week they signed up
      retained_users               cohort members with a purchase in exactly week N after the
                                   cohort week (N-week retention)
      retained_users_on_or_after   members with a purchase in week N or any later week
                                   (unbounded retention)

    A purchase is an order that was not cancelled. Weeks run 0..`retention_max_weeks`, only as
    far as the data reaches; is_complete_period is false for the week still in progress.
#}
{%- set max_weeks = var('retention_max_weeks') | int -%}

with

orders as (
    select * from {{ ref('int_user_orders') }}
),

users as (
    select * from {{ ref('stg_thelook__users') }}
),

clock as (
    select * from {{ ref('int_data_clock') }}
),

week_offsets as (
    select generated_number - 1 as weeks_since
    from ({{ dbt.generate_series(max_weeks + 1) }}) as series
),

purchase_weeks as (
    select distinct
        user_id,
        cast({{ dbt.date_trunc('week', 'created_at') }} as date) as activity_week
    from orders
    where not is_cancelled
),

cohort_members as (
    select
        'first_purchase' as cohort_type,
        user_id,
        min(activity_week) as cohort_week
    from purchase_weeks
    group by user_id
    union all
    select
        'signup' as cohort_type,
        user_id,
        cast({{ dbt.date_trunc('week', 'signed_up_at') }} as date) as cohort_week
    from users
),

member_weeks as (
    select
        cohort_members.cohort_type,
        cohort_members.cohort_week,
        cohort_members.user_id,
        cast({{ dbt.datediff('cohort_members.cohort_week', 'purchase_weeks.activity_week', 'day') }} / 7 as {{ dbt.type_int() }}) as weeks_since
    from cohort_members
    inner join purchase_weeks
        on purchase_weeks.user_id = cohort_members.user_id
        and purchase_weeks.activity_week >= cohort_members.cohort_week
),

cohort_sizes as (
    select cohort_type, cohort_week, count(*) as cohort_size
    from cohort_members
    group by cohort_type, cohort_week
),

retained_in_week as (
    select cohort_type, cohort_week, weeks_since, count(*) as retained_users
    from member_weeks
    where weeks_since <= {{ max_weeks }}
    group by cohort_type, cohort_week, weeks_since
),

-- A member is retained "on or after" week N for every N up to their last purchase week, so the
-- unbounded count is a running total of last-purchase weeks from the far end.
last_purchase_week as (
    select
        cohort_type,
        cohort_week,
        user_id,
        case when max(weeks_since) > {{ max_weeks }} then {{ max_weeks }} else max(weeks_since) end as last_weeks_since
    from member_weeks
    group by cohort_type, cohort_week, user_id
),

last_week_histogram as (
    select cohort_type, cohort_week, last_weeks_since as weeks_since, count(*) as members
    from last_purchase_week
    group by cohort_type, cohort_week, last_weeks_since
),

grid as (
    select
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
        grid.cohort_type,
        grid.cohort_week,
        grid.weeks_since,
        sum(coalesce(last_week_histogram.members, 0)) over (
            partition by grid.cohort_type, grid.cohort_week
            order by grid.weeks_since desc
            rows between unbounded preceding and current row
        ) as retained_users_on_or_after
    from grid
    left join last_week_histogram
        on last_week_histogram.cohort_type = grid.cohort_type
        and last_week_histogram.cohort_week = grid.cohort_week
        and last_week_histogram.weeks_since = grid.weeks_since
),

final as (
    select
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
        on retained_in_week.cohort_type = grid.cohort_type
        and retained_in_week.cohort_week = grid.cohort_week
        and retained_in_week.weeks_since = grid.weeks_since
    inner join on_or_after
        on on_or_after.cohort_type = grid.cohort_type
        and on_or_after.cohort_week = grid.cohort_week
        and on_or_after.weeks_since = grid.weeks_since
)

select * from final
