with

source as (
    select * from {{ source('thelook', 'users') }}
),

deduplicated as (
    {{ dedupe('source', source('thelook', 'users'), ['id'], 'created_at') }}
),

final as (
    select
        cast(id as {{ dbt.type_bigint() }}) as user_id,
        {{ clean_text('first_name') }} as first_name,
        {{ clean_text('last_name') }} as last_name,
        lower({{ clean_text('email') }}) as email,
        cast(age as {{ dbt.type_int() }}) as age,
        {{ clean_text('gender') }} as gender,
        {{ clean_text('state') }} as state,
        {{ clean_text('street_address') }} as street_address,
        {{ clean_text('postal_code') }} as postal_code,
        {{ clean_text('city') }} as city,
        {{ clean_text('country') }} as country,
        cast(latitude as {{ dbt.type_float() }}) as latitude,
        cast(longitude as {{ dbt.type_float() }}) as longitude,
        {{ clean_text('traffic_source') }} as traffic_source,
        created_at as signed_up_at,
        {{ clean_text('user_geom') }} as user_geom
    from deduplicated
)

select * from final
