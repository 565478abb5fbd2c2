{#
    The weeks (Monday start, UTC) in which each user was active, one row per
    (user_id, retention_event, activity_week):

      'session'   the user started a signed-in session that week (the original platform's
                  activity retention)
      'purchase'  the user placed an order that was not cancelled that week

    Read from the daily pre-aggregate, so retention never scans the raw events.
#}
with

daily_activity as (
    select * from {{ ref('int_user_daily_activity') }}
),

session_weeks as (
    select distinct
        'session' as retention_event,
        user_id,
        cast({{ dbt.date_trunc('week', 'activity_date') }} as date) as activity_week
    from daily_activity
    where sessions_started > 0
),

purchase_weeks as (
    select distinct
        'purchase' as retention_event,
        user_id,
        cast({{ dbt.date_trunc('week', 'activity_date') }} as date) as activity_week
    from daily_activity
    where purchases_count > 0
),

final as (
    select retention_event, user_id, activity_week from session_weeks
    union all
    select retention_event, user_id, activity_week from purchase_weeks
)

select * from final
