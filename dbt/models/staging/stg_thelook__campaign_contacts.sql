{#
    The campaign contacts file is optional (real TheLook exports have none: the generator plants
    it). When the loader created no raw table, this view is empty, so the campaign mart still
    builds, empty.
#}
with

source as (
    {{ optional_source('campaign_contacts', [
        ('campaign_id', dbt.type_string()),
        ('user_id', dbt.type_bigint()),
        ('contacted_at', type_timestamptz()),
        ('variant', dbt.type_string()),
        ('channel', dbt.type_string()),
        ('cost', dbt.type_float()),
        ('planned_treatment_share', dbt.type_float()),
    ]) }}
),

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
