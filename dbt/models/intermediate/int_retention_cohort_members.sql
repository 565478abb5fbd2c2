{#
    Who belongs to which retention cohort, one row per
    (retention_event, cohort_type, user_id):

      cohort_type 'first_session'   the week of the user's first signed-in session
                                    (retention_event 'session')
                  'first_purchase'  the week of the user's first non-cancelled order
                                    (retention_event 'purchase')
                  'signup'          the week the user signed up (both events)

    A first-activity cohort is active in its own week by construction; a sign-up cohort need
    not be.
#}
with

activity_weeks as (
    select * from {{ ref('int_user_activity_weeks') }}
),

users as (
    select * from {{ ref('stg_thelook__users') }}
),

-- Both events always, so a sign-up cohort exists even for an event nobody has had yet.
retention_events as (
    select 'session' as retention_event
    union all
    select 'purchase' as retention_event
),

first_activity as (
    select
        retention_event,
        case when retention_event = 'session' then 'first_session' else 'first_purchase' end
            as cohort_type,
        user_id,
        min(activity_week) as cohort_week
    from activity_weeks
    group by retention_event, user_id
),

signups as (
    select
        retention_events.retention_event,
        'signup' as cohort_type,
        users.user_id,
        cast({{ dbt.date_trunc('week', 'users.signed_up_at') }} as date) as cohort_week
    from users
    cross join retention_events
),

final as (
    select retention_event, cohort_type, user_id, cohort_week from first_activity
    union all
    select retention_event, cohort_type, user_id, cohort_week from signups
)

select * from final
