"""Prefect flows: thin wrappers that add retries, logging and run history to the stage functions."""
