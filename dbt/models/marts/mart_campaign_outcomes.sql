{#
    One row per (campaign, user) of the retention campaigns: the variant, the share of the
    campaign that was treated (the propensity a randomized design fixes, read from the data as
    a team without the design document would), and what the user did in the
    `churn_label_horizon_days` days from the contact: converted (any order, the complement of
    the churn label) and the revenue of the non-cancelled items ordered. Contacts whose horizon
    runs past the data clock are kept with has_complete_horizon = false and no outcome.

    Features as of the contact are not copied here: campaigns go out at the churn marts' weekly
    cutoffs, and the uplift stage takes them from Feast's point-in-time join at `contacted_at`,
    the same way churn training does. Empty when no campaign was loaded.
#}
{%- set horizon_days = var('churn_label_horizon_days') | int -%}

with

contacts as (
    select * from {{ ref('stg_thelook__campaign_contacts') }}
),

orders as (
    select * from {{ ref('stg_thelook__orders') }}
),

order_items as (
    select * from {{ ref('stg_thelook__order_items') }}
),

clock as (
    select * from {{ ref('int_data_clock') }}
),

campaign_shares as (
    select
        campaign_id,
        -- A float average: the literals 1.0/0.0 are decimal(2,1) on Spark, whose average keeps
        -- five digits (0.40741), where PostgreSQL's numeric keeps twenty.
        avg(cast(case when variant = 'treatment' then 1 else 0 end as {{ dbt.type_float() }}))
            as treatment_share
    from contacts
    group by campaign_id
),

horizons as (
    select
        contacts.campaign_id,
        contacts.user_id,
        contacts.contacted_at,
        contacts.variant,
        contacts.channel,
        contacts.contact_cost,
        contacts.planned_treatment_share,
        {{ dbt.dateadd('day', horizon_days, 'contacts.contacted_at') }} as horizon_end_at,
        case
            when {{ dbt.dateadd('day', horizon_days, 'contacts.contacted_at') }} <= clock.data_max_at
                then true
            else false
        end as has_complete_horizon
    from contacts
    cross join clock
),

horizon_orders as (
    {{ orders_within('horizons', ['campaign_id', 'user_id'], 'contacted_at', 'horizon_end_at') }}
),

horizon_revenue as (
    select
        horizons.campaign_id,
        horizons.user_id,
        sum(order_items.sale_price) as revenue_in_horizon
    from horizons
    inner join order_items
        on order_items.user_id = horizons.user_id
        and {{ within('order_items.created_at', 'horizons.contacted_at', 'horizons.horizon_end_at') }}
        and not order_items.is_cancelled
    group by horizons.campaign_id, horizons.user_id
),

final as (
    select
        horizons.campaign_id,
        horizons.user_id,
        horizons.contacted_at,
        cast(horizons.contacted_at as date) as contact_date,
        horizons.variant,
        cast(case when horizons.variant = 'treatment' then 1 else 0 end as {{ dbt.type_int() }}) as is_treated,
        cast(campaign_shares.treatment_share as {{ dbt.type_float() }}) as treatment_share,
        horizons.planned_treatment_share,
        horizons.channel,
        horizons.contact_cost,
        horizons.horizon_end_at,
        horizons.has_complete_horizon,
        cast(case
            when not horizons.has_complete_horizon then null
            when horizon_orders.orders_in_horizon is null then 0
            else 1
        end as {{ dbt.type_int() }}) as converted,
        cast(case
            when not horizons.has_complete_horizon then null
            else coalesce(horizon_revenue.revenue_in_horizon, 0)
        end as {{ dbt.type_float() }}) as revenue_in_horizon
    from horizons
    inner join campaign_shares
        on campaign_shares.campaign_id = horizons.campaign_id
    left join horizon_orders
        on horizon_orders.campaign_id = horizons.campaign_id
        and horizon_orders.user_id = horizons.user_id
    left join horizon_revenue
        on horizon_revenue.campaign_id = horizons.campaign_id
        and horizon_revenue.user_id = horizons.user_id
)

select * from final
