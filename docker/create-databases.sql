-- The Optuna database is the image's POSTGRES_DB; MLflow's runs get their own.
CREATE DATABASE mlflow;
