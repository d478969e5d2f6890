-- First start of the PostgreSQL container: one database per service (same owner).
CREATE DATABASE optuna;
CREATE DATABASE mlflow;
CREATE DATABASE prefect;
