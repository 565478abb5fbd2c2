"""What the BentoML churn service imports: request/response models, the online read, the model
holder and the request logic; `services/churn_api/service.py` only wires them to HTTP."""
