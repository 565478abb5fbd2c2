{#
    Customers with the same number of purchases share one F score: every frequency value maps
    to exactly one f_score in mart_rfm (in particular every one-order customer gets the same F).
    Returns each frequency that more than one F score was given to.
#}
select
    frequency,
    count(distinct f_score) as f_scores
from {{ ref('mart_rfm') }}
group by frequency
having count(distinct f_score) > 1
