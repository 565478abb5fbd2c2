{#
    The campaign contacts file is optional (real TheLook exports have none: the generator plants
    it). When the loader created no raw table, this view is an empty, correctly typed relation,
    so the campaign mart still builds, empty.
#}
{%- set source_relation = adapter.get_relation(
        database=source('thelook', 'campaign_contacts').database,
        schema=source('thelook', 'campaign_contacts').schema,
        identifier=source('thelook', 'campaign_contacts').identifier) if execute else none -%}

with

{% if source_relation is not none or not execute %}
source as (
    select * from {{ source('thelook', 'campaign_contacts') }}
),
{% else %}
source as (
    select
        cast(null as {{ dbt.type_string() }}) as campaign_id,
        cast(null as {{ dbt.type_bigint() }}) as user_id,
        cast(null as {{ type_timestamptz() }}) as contacted_at,
        cast(null as {{ dbt.type_string() }}) as variant,
        cast(null as {{ dbt.type_string() }}) as channel,
        cast(null as {{ dbt.type_float() }}) as cost,
        cast(null as {{ dbt.type_float() }}) as planned_treatment_share
    where 1 = 0
),
{% endif %}

deduplicated as (
    {{ dedupe('source', source('thelook', 'campaign_contacts'), ['campaign_id', 'user_id'], 'contacted_at') }}
),

final as (
    select
        {{ clean_text('campaign_id') }} as campaign_id,
        cast(user_id as {{ dbt.type_bigint() }}) as user_id,
        contacted_at,
        lower({{ clean_text('variant') }}) as variant,
        lower({{ clean_text('channel') }}) as channel,
        cast(cost as {{ dbt.type_float() }}) as contact_cost,
        cast(planned_treatment_share as {{ dbt.type_float() }}) as planned_treatment_share
    from deduplicated
)

select * from final
