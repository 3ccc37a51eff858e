{#-
    The identity stitcher's rounds (docs/identity.md). Connected components need a loop that
    stops when nothing changes, which one SQL statement cannot say portably: a recursive CTE
    keeps every path, and a chain of CTEs is planned once per reference on Spark. So the
    rounds run here, statement by statement, each into a work table beside the model, and the
    model reads the last (`identity_labels_relation`). Run as the model's pre-hook: only when
    the model builds, never while dbt compiles.

    Labels are id ranks (int_identity_ids.id_rank, 1 the oldest id); a person is labelled by
    their oldest id. The link types are taken strongest first. For each, the persons so far
    are contracted to their labels, the type's links join them, and the joined groups settle
    by label propagation with pointer jumping. A group that holds two or more persons of more
    than one id (persons made by stronger links) would join them through a weaker link: it is
    left unjoined, its links listed by identity_link_status.
-#}

{% macro identity_labels_relation() -%}
    {{ return(this.incorporate(path={'identifier': this.identifier ~ '__labels'}, type='table')) }}
{%- endmacro %}

{#- `ids` and `links` hold two nights' rows (is_night_before): the persons of the night, or
    with `night_before` those of the night before. -#}
{% macro stitch_identity(ids, links, night_before=false) %}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set night = 'is_night_before' if night_before else 'not is_night_before' -%}
    {%- set ids = '(select * from ' ~ ids ~ ' where ' ~ night ~ ')' -%}
    {%- set links = '(select * from ' ~ links ~ ' where ' ~ night ~ ')' -%}
    {%- set settings = var('identity') -%}
    {%- set work = namespace(tables=[], labels=none, step=0) -%}

    {%- set ranked_links = identity_work_table(work, 'links', "
        select ids_a.id_rank as rank_a, ids_b.id_rank as rank_b, links.link_type
        from " ~ links ~ " as links
        inner join " ~ ids ~ " as ids_a on links.id_a = ids_a.id
        inner join " ~ ids ~ " as ids_b on links.id_b = ids_b.id
        where links.exclusion_reason is null
    ") -%}
    {%- set work.labels = identity_work_table(work, 'labels', 'select id_rank as node, id_rank as label from ' ~ ids) -%}

    {%- for link_type in settings['link_types'] -%}
        {#- The type's links between persons so far, as edges between their labels. -#}
        {%- set edges = identity_work_table(work, 'edges', "
            select distinct src, dst from (
                select labels_a.label as src, labels_b.label as dst
                from " ~ ranked_links ~ " as links
                inner join " ~ work.labels ~ " as labels_a on links.rank_a = labels_a.node
                inner join " ~ work.labels ~ " as labels_b on links.rank_b = labels_b.node
                where links.link_type = '" ~ link_type.name ~ "' and labels_a.label <> labels_b.label
                union all
                select labels_b.label as src, labels_a.label as dst
                from " ~ ranked_links ~ " as links
                inner join " ~ work.labels ~ " as labels_a on links.rank_a = labels_a.node
                inner join " ~ work.labels ~ " as labels_b on links.rank_b = labels_b.node
                where links.link_type = '" ~ link_type.name ~ "' and labels_a.label <> labels_b.label
            ) as both_ways
        ") -%}
        {%- if identity_count('select * from ' ~ edges) > 0 -%}
            {%- set groups = namespace(current=none, settled=false) -%}
            {%- set groups.current = identity_work_table(work, 'groups', 'select distinct src as node, src as grp from ' ~ edges) -%}
            {%- for round in range(settings['max_rounds']) if not groups.settled -%}
                {#- Each label takes the least of its neighbours', then jumps to the label its
                    new one points at. -#}
                {%- set next = identity_work_table(work, 'groups', "
                    with stepped as (
                        select groups.node, least(groups.grp, min(neighbours.grp)) as grp
                        from " ~ groups.current ~ " as groups
                        inner join " ~ edges ~ " as edges on groups.node = edges.src
                        inner join " ~ groups.current ~ " as neighbours on edges.dst = neighbours.node
                        group by groups.node, groups.grp
                    )
                    select stepped.node, least(stepped.grp, jumped.grp) as grp
                    from stepped
                    inner join stepped as jumped on stepped.grp = jumped.node
                ") -%}
                {%- set changed = identity_count(
                    'select 1 from ' ~ next ~ ' as next_groups inner join ' ~ groups.current
                    ~ ' as groups on next_groups.node = groups.node where next_groups.grp <> groups.grp'
                ) -%}
                {%- set groups.settled = changed == 0 -%}
                {%- set groups.current = next -%}
            {%- endfor -%}
            {%- if not groups.settled -%}
                {{ exceptions.raise_compiler_error(
                    "identity: the " ~ link_type.name ~ " links did not settle in "
                    ~ settings['max_rounds'] ~ " rounds (var identity.max_rounds): a chain of ids "
                    ~ "longer than the rounds can follow. Raise max_rounds, or look for a "
                    ~ "run of links that should not be there (docs/identity.md)"
                ) }}
            {%- endif -%}
            {#- Join the groups that hold at most one person made by stronger links. -#}
            {%- set merges = identity_work_table(work, 'merges', "
                with persons as (
                    select label, count(*) > 1 as is_joined
                    from " ~ work.labels ~ "
                    group by label
                ),
                joinable as (
                    select groups.grp
                    from " ~ groups.current ~ " as groups
                    inner join persons on groups.node = persons.label
                    group by groups.grp
                    having sum(case when persons.is_joined then 1 else 0 end) <= 1
                )
                select groups.node as old_label, groups.grp as new_label
                from " ~ groups.current ~ " as groups
                inner join joinable on groups.grp = joinable.grp
            ") -%}
            {%- set work.labels = identity_work_table(work, 'labels', "
                select labels.node, coalesce(merges.new_label, labels.label) as label
                from " ~ work.labels ~ " as labels
                left join " ~ merges ~ " as merges on labels.label = merges.old_label
            ") -%}
        {%- endif -%}
    {%- endfor -%}

    {%- set result = identity_labels_relation() -%}
    {%- do adapter.drop_relation(result) -%}
    {%- do run_query(get_create_table_as_sql(False, result, 'select node, label from ' ~ work.labels)) -%}
    {%- for relation in work.tables -%}
        {%- do adapter.drop_relation(relation) -%}
    {%- endfor -%}
    {{ return('') }}
{% endmacro %}

{#- A work table of the stitcher's, made from `sql` and listed in `work` to be dropped. -#}
{% macro identity_work_table(work, name, sql) %}
    {%- set work.step = work.step + 1 -%}
    {%- set relation = this.incorporate(
        path={'identifier': this.identifier ~ '__' ~ name ~ '_' ~ work.step}, type='table'
    ) -%}
    {%- do adapter.drop_relation(relation) -%}
    {%- do run_query(get_create_table_as_sql(False, relation, sql)) -%}
    {%- do work.tables.append(relation) -%}
    {{- return(relation) -}}
{% endmacro %}

{% macro identity_count(sql) %}
    {{- return(run_query('select count(*) from (' ~ sql ~ ') as counted').columns[0].values()[0]) -}}
{% endmacro %}

{#- After the model: its work table goes. -#}
{% macro drop_identity_labels() %}
    {%- if execute -%}
        {%- do adapter.drop_relation(identity_labels_relation()) -%}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}
