"""Swap freshly loaded tables into `raw` without breaking the views that read them.

dbt's staging views (and anyone's ad-hoc views) depend on the raw tables. PostgreSQL cannot
drop a table that a view depends on without CASCADE, and CASCADE would silently delete those
views. So the swap captures every dependent view, recursively and in dependency order, with
its definition, options, owner, comments, grants (and indexes, for materialized views), drops
them, replaces the tables, and recreates them, all inside the caller's transaction: readers
see either the old tables with their views or the new ones with the same views.

Anything else that depends on a raw table (a foreign key from another table, a function with a
SQL-standard body) makes the DROP fail loudly, which rolls the whole load back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import psycopg2.extensions
from psycopg2 import sql

log = logging.getLogger(__name__)

_DEPENDENT_VIEWS_SQL = """
with recursive dependents(oid, depth) as (
    select rewrite.ev_class, 1
    from pg_catalog.pg_depend as dep
    join pg_catalog.pg_rewrite as rewrite on rewrite.oid = dep.objid
    where dep.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
      and dep.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
      and dep.refobjid = any(%(roots)s::pg_catalog.oid[])
      and rewrite.ev_class <> dep.refobjid
    union
    select rewrite.ev_class, dependents.depth + 1
    from dependents
    join pg_catalog.pg_depend as dep
      on dep.refobjid = dependents.oid
     and dep.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
     and dep.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
    join pg_catalog.pg_rewrite as rewrite on rewrite.oid = dep.objid
    where rewrite.ev_class <> dependents.oid
)
select
    class.oid,
    namespace.nspname,
    class.relname,
    class.relkind,
    pg_catalog.pg_get_viewdef(class.oid),
    class.reloptions,
    pg_catalog.pg_get_userbyid(class.relowner),
    pg_catalog.obj_description(class.oid, 'pg_class')
from dependents
join pg_catalog.pg_class as class on class.oid = dependents.oid
join pg_catalog.pg_namespace as namespace on namespace.oid = class.relnamespace
group by class.oid, namespace.nspname, class.relname
-- a view's longest path from a raw table is longer than that of every view it reads
order by max(dependents.depth), namespace.nspname, class.relname
"""

_COLUMN_COMMENTS_SQL = """
select attribute.attname, description.description
from pg_catalog.pg_description as description
join pg_catalog.pg_attribute as attribute
  on attribute.attrelid = description.objoid and attribute.attnum = description.objsubid
where description.objoid = %s
  and description.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
  and description.objsubid > 0
order by attribute.attnum
"""

_GRANTS_SQL = """
select
    case when acl.grantee = 0 then 'PUBLIC'
         else pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(acl.grantee)) end,
    acl.privilege_type,
    acl.is_grantable
from pg_catalog.pg_class as class,
     pg_catalog.aclexplode(class.relacl) as acl
where class.oid = %s
"""

_INDEXES_SQL = """
select pg_catalog.pg_get_indexdef(indexrelid)
from pg_catalog.pg_index where indrelid = %s order by indexrelid
"""


@dataclass(frozen=True)
class DependentView:
    """Everything needed to recreate a view (or materialized view) exactly as it was."""

    schema: str
    name: str
    materialized: bool
    definition: str
    options: tuple[str, ...]
    owner: str
    comment: str | None
    column_comments: tuple[tuple[str, str], ...] = ()
    grants: tuple[str, ...] = ()
    index_definitions: tuple[str, ...] = field(default=())

    @property
    def identifier(self) -> sql.Composed:
        return sql.SQL(".").join([sql.Identifier(self.schema), sql.Identifier(self.name)])

    @property
    def kind(self) -> sql.SQL:
        return sql.SQL("materialized view" if self.materialized else "view")


def _grant_statements(
    cursor: psycopg2.extensions.cursor, oid: int, target: sql.Composable
) -> tuple[str, ...]:
    cursor.execute(_GRANTS_SQL, (oid,))
    statements = []
    for grantee, privilege, grantable in cursor.fetchall():
        statement = sql.SQL("grant {} on {} to {}{}").format(
            sql.SQL(privilege),
            target,
            sql.SQL(grantee),
            sql.SQL(" with grant option" if grantable else ""),
        )
        statements.append(statement.as_string(cursor.connection))
    return tuple(statements)


def capture_dependent_views(
    cursor: psycopg2.extensions.cursor, table_oids: list[int]
) -> list[DependentView]:
    """Every view that reads the given tables, directly or through other views, creation order.

    Definitions come from pg_get_viewdef under an empty search_path, so every name in them is
    schema-qualified and the recreated view resolves to the same objects.
    """
    if not table_oids:
        return []
    cursor.execute("set local search_path = pg_catalog")
    cursor.execute(_DEPENDENT_VIEWS_SQL, {"roots": table_oids})
    rows = cursor.fetchall()
    views = []
    for oid, schema, name, relkind, definition, options, owner, comment in rows:
        identifier = sql.SQL(".").join([sql.Identifier(schema), sql.Identifier(name)])
        cursor.execute(_COLUMN_COMMENTS_SQL, (oid,))
        column_comments = tuple(cursor.fetchall())
        index_definitions: tuple[str, ...] = ()
        if relkind == "m":
            cursor.execute(_INDEXES_SQL, (oid,))
            index_definitions = tuple(row[0] for row in cursor.fetchall())
        views.append(
            DependentView(
                schema=schema,
                name=name,
                materialized=relkind == "m",
                definition=definition.rstrip().rstrip(";"),
                options=tuple(options or ()),
                owner=owner,
                comment=comment,
                column_comments=column_comments,
                grants=_grant_statements(cursor, oid, identifier),
                index_definitions=index_definitions,
            )
        )
    return views


def _recreate_view(cursor: psycopg2.extensions.cursor, view: DependentView) -> None:
    options = sql.SQL("")
    if view.options:
        options = sql.SQL(" with ({})").format(sql.SQL(", ").join(map(sql.SQL, view.options)))
    cursor.execute(
        sql.SQL("create {kind} {name}{options} as {definition}").format(
            kind=view.kind,
            name=view.identifier,
            options=options,
            definition=sql.SQL(view.definition),
        )
    )
    cursor.execute("select current_user")
    if cursor.fetchone()[0] != view.owner:
        cursor.execute(
            sql.SQL("alter {} {} owner to {}").format(
                view.kind, view.identifier, sql.Identifier(view.owner)
            )
        )
    if view.comment is not None:
        cursor.execute(
            sql.SQL("comment on {} {} is %s").format(view.kind, view.identifier), (view.comment,)
        )
    for column, comment in view.column_comments:
        cursor.execute(
            sql.SQL("comment on column {}.{} is %s").format(
                view.identifier, sql.Identifier(column)
            ),
            (comment,),
        )
    for statement in (*view.index_definitions, *view.grants):
        cursor.execute(statement)


@dataclass(frozen=True)
class SwapResult:
    tables_replaced: int
    tables_created: int
    views_recreated: int


def swap_tables(
    cursor: psycopg2.extensions.cursor,
    staging_schema: str,
    target_schema: str,
    table_names: list[str],
) -> SwapResult:
    """Replace target_schema.<t> by staging_schema.<t> for each name, keeping dependent views
    and the old tables' grants. Runs in the caller's transaction; the caller commits."""
    cursor.execute("set local search_path = pg_catalog")
    cursor.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(target_schema)))

    old_tables: dict[str, int] = {}
    for name in table_names:
        cursor.execute(
            "select pg_catalog.to_regclass(%s)::pg_catalog.oid",
            (
                sql.SQL("{}.{}")
                .format(sql.Identifier(target_schema), sql.Identifier(name))
                .as_string(cursor.connection),
            ),
        )
        oid = cursor.fetchone()[0]
        if oid is not None:
            old_tables[name] = oid

    def target(name: str) -> sql.Composed:
        return sql.SQL(".").join([sql.Identifier(target_schema), sql.Identifier(name)])

    # Lock first, in a fixed order, so nobody adds a view between capture and drop.
    for name in sorted(old_tables):
        cursor.execute(sql.SQL("lock table {} in access exclusive mode").format(target(name)))
    table_grants = {
        name: _grant_statements(cursor, oid, target(name)) for name, oid in old_tables.items()
    }
    views = capture_dependent_views(cursor, list(old_tables.values()))

    for view in reversed(views):
        cursor.execute(sql.SQL("drop {} {}").format(view.kind, view.identifier))
    for name in table_names:
        if name in old_tables:
            cursor.execute(sql.SQL("drop table {}").format(target(name)))
        cursor.execute(
            sql.SQL("alter table {}.{} set schema {}").format(
                sql.Identifier(staging_schema), sql.Identifier(name), sql.Identifier(target_schema)
            )
        )
        for statement in table_grants.get(name, ()):
            cursor.execute(statement)
    for view in views:
        _recreate_view(cursor, view)
    if views:
        log.info(
            "recreated %d dependent view(s): %s",
            len(views),
            ", ".join(f"{view.schema}.{view.name}" for view in views),
        )
    return SwapResult(
        tables_replaced=len(old_tables),
        tables_created=len(table_names) - len(old_tables),
        views_recreated=len(views),
    )
