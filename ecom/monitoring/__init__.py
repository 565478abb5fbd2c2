"""Monitoring the champion in production: input drift, realised performance, the model card."""
