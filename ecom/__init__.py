"""E-commerce analytics and churn platform."""
