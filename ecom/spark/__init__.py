"""Apache Spark as the second engine (ECOM_ENGINE=spark): the session, the raw load, dbt on
Spark and batch scoring on Spark partitions. Scores still reach PostgreSQL for the service."""
