with

source as (
    select * from {{ source('thelook', 'events') }}
),

deduplicated as (
    {{ dedupe('source', source('thelook', 'events'), ['id']) }}
),

final as (
    select
        cast(id as {{ dbt.type_bigint() }}) as event_id,
        cast(user_id as {{ dbt.type_bigint() }}) as user_id,
        {{ clean_text('session_id') }} as session_id,
        cast(sequence_number as {{ dbt.type_int() }}) as sequence_number,
        created_at,
        {{ clean_text('event_type') }} as event_type,
        {{ clean_text('uri') }} as uri,
        {{ clean_text('traffic_source') }} as traffic_source,
        {{ clean_text('browser') }} as browser,
        {{ clean_text('ip_address') }} as ip_address,
        {{ clean_text('city') }} as city,
        {{ clean_text('state') }} as state,
        {{ clean_text('postal_code') }} as postal_code,
        case when user_id is null then true else false end as is_anonymous
    from deduplicated
)

select * from final
