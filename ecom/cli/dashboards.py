"""`ecom dashboards provision`: the dashboards of services/metabase/ into a running Metabase."""

from __future__ import annotations

from typing import Annotated

import typer

from ecom.cli.common import console, fail

app = typer.Typer(help="Metabase dashboards as code.", no_args_is_help=True)


@app.command()
def provision(
    url: Annotated[str, typer.Option(help="Metabase's base URL, e.g. http://localhost:3000.")],
    admin_email: Annotated[
        str, typer.Option(envvar="ECOM_METABASE_ADMIN_EMAIL", help="Admin to create or log in as.")
    ],
    admin_password: Annotated[
        str,
        typer.Option(
            envvar="ECOM_METABASE_ADMIN_PASSWORD",
            help="Its password (from the environment).",
            show_default=False,
            hidden=False,
        ),
    ],
    warehouse_url: Annotated[
        str | None,
        typer.Option(
            envvar="ECOM_METABASE_WAREHOUSE_URL",
            help="PostgreSQL URL as Metabase reaches it (default: ECOM_DATABASE_URL); "
            "in docker compose postgresql://ecom:...@postgres:5432/ecom.",
        ),
    ] = None,
) -> None:
    """Create the admin (first run), the warehouse connection, the cards and dashboards; update them in place on later runs."""
    from ecom.config import get_settings
    from ecom.reports.dashboards import load_dashboards
    from ecom.reports.metabase import AdminAccount, MetabaseClient, MetabaseError, provision
    from ecom.transform import dbt_paths

    settings = get_settings()
    warehouse = warehouse_url or settings.database_url
    if not warehouse:
        raise fail("no warehouse URL: set ECOM_METABASE_WAREHOUSE_URL or ECOM_DATABASE_URL")
    client = MetabaseClient(url)
    try:
        summary = provision(
            client,
            AdminAccount(admin_email, admin_password),
            warehouse,
            load_dashboards(),
            dbt_paths(settings)[0] / "manifest.json",
        )
    except (MetabaseError, ValueError) as error:
        raise fail(str(error)) from error
    finally:
        client.close()
    console.print(f"metabase: {summary.summary_line()}")
    for name, dashboard_id in summary.dashboards.items():
        console.print(f"  {name}: {url.rstrip('/')}/dashboard/{dashboard_id}")
