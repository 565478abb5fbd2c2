{#
    Product view -> cart -> purchase conversion in long format, one row per
    (funnel_level, period_grain, period_start, dimension, dimension_value):

      funnel_level  'session' (each session with a product view is one try) or 'user' (each user
                    entering the funnel in the period is one try, converting in any session
                    within the conversion window)
      period_grain  'day' or 'week' (weeks start on Monday); period_start is the first day
      dimension     'all' (dimension_value 'all'), 'traffic_source', 'browser' or 'country'

    In Metabase: filter funnel_level, period_grain and dimension, then chart the step counts or
    rates over period_start by dimension_value. Rows of a period and dimension add up to the
    'all' row for the counts; rates never add. is_complete_period is false while a try entered
    in the period could still convert (the period's end plus the conversion window is past the
    latest data), so the last days do not read as a conversion drop.
#}
{%- set dimensions = ['traffic_source', 'browser', 'country'] -%}
{%- set grains = ['day', 'week'] -%}

with

sessions as (
    select * from {{ ref('int_sessions') }}
),

user_entries as (
    select * from {{ ref('int_user_funnel_entries') }}
),

users as (
    select * from {{ ref('stg_thelook__users') }}
),

clock as (
    select * from {{ ref('int_data_clock') }}
),

session_tries as (
    {% for grain in grains %}
    select
        'session' as funnel_level,
        '{{ grain }}' as period_grain,
        cast({{ dbt.date_trunc(grain, 'sessions.product_viewed_at') }} as date) as period_start,
        coalesce(sessions.traffic_source, 'Unknown') as traffic_source,
        coalesce(sessions.browser, 'Unknown') as browser,
        coalesce(users.country, 'Unknown') as country,
        sessions.reached_cart,
        sessions.reached_purchase,
        sessions.minutes_to_purchase
    from sessions
    left join users on users.user_id = sessions.user_id
    where sessions.product_viewed_at is not null
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

user_tries as (
    select
        'user' as funnel_level,
        user_entries.period_grain,
        user_entries.period_start,
        coalesce(user_entries.traffic_source, 'Unknown') as traffic_source,
        coalesce(user_entries.browser, 'Unknown') as browser,
        coalesce(users.country, 'Unknown') as country,
        user_entries.reached_cart,
        user_entries.reached_purchase,
        user_entries.minutes_to_purchase
    from user_entries
    left join users on users.user_id = user_entries.user_id
),

tries as (
    select * from session_tries
    union all
    select * from user_tries
),

step_counts as (
    {{ funnel_breakdowns('tries', dimensions, [
        'count(*) as viewed',
        'sum(case when reached_cart then 1 else 0 end) as carted',
        'sum(case when reached_purchase then 1 else 0 end) as purchased',
        'avg(minutes_to_purchase) as mean_minutes_to_purchase',
    ]) }}
),

-- Medians sort their input; only the converted tries (a small share) have a time to sort.
converted as (
    select * from tries where minutes_to_purchase is not null
),

medians as (
    {{ funnel_breakdowns('converted', dimensions, [
        'percentile_cont(0.5) within group (order by minutes_to_purchase) as median_minutes_to_purchase',
    ]) }}
),

final as (
    select
        step_counts.funnel_level,
        step_counts.period_grain,
        step_counts.period_start,
        step_counts.dimension,
        step_counts.dimension_value,
        cast({{ var('funnel_conversion_window_hours') }} as {{ dbt.type_int() }}) as conversion_window_hours,
        case
            when {{ dbt.dateadd('hour', var('funnel_conversion_window_hours'), dbt.dateadd('day', "case when step_counts.period_grain = 'week' then 7 else 1 end", 'step_counts.period_start')) }} <= clock.data_max_at then true
            else false
        end as is_complete_period,
        cast(viewed as {{ dbt.type_int() }}) as viewed,
        cast(carted as {{ dbt.type_int() }}) as carted,
        cast(purchased as {{ dbt.type_int() }}) as purchased,
        cast(viewed - carted as {{ dbt.type_int() }}) as dropped_after_view,
        cast(carted - purchased as {{ dbt.type_int() }}) as dropped_after_cart,
        {{ safe_divide('carted', 'viewed') }} as view_to_cart_rate,
        {{ safe_divide('purchased', 'carted') }} as cart_to_purchase_rate,
        {{ safe_divide('purchased', 'viewed') }} as overall_conversion_rate,
        {{ safe_divide('viewed - carted', 'viewed') }} as view_drop_off_rate,
        {{ safe_divide('carted - purchased', 'carted') }} as cart_drop_off_rate,
        cast(medians.median_minutes_to_purchase as {{ dbt.type_float() }}) as median_minutes_to_purchase,
        cast(step_counts.mean_minutes_to_purchase as {{ dbt.type_float() }}) as mean_minutes_to_purchase
    from step_counts
    cross join clock
    left join medians
        on medians.funnel_level = step_counts.funnel_level
        and medians.period_grain = step_counts.period_grain
        and medians.period_start = step_counts.period_start
        and medians.dimension = step_counts.dimension
        and medians.dimension_value = step_counts.dimension_value
)

select * from final
