"""The `ecom` command: one Typer module per stage's group of commands, assembled in `main`.

Heavy libraries (dbt, Feast, MLflow, XGBoost) are imported inside each command so that
`ecom --help` and `ecom services status` answer instantly.
"""
