"""Create the database named in DATABASE_URL if it does not exist yet (PostgreSQL)."""
import os

import environ
import psycopg2
from psycopg2 import sql

config = environ.Env.db_url_config(os.environ["DATABASE_URL"])
connection = psycopg2.connect(
    dbname="postgres",
    user=config["USER"],
    password=config["PASSWORD"],
    host=config["HOST"],
    port=config["PORT"] or 5432,
    **config.get("OPTIONS", {}),  # e.g. host=<socket folder> of the embedded server's URL
)
connection.autocommit = True
with connection.cursor() as cursor:
    cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]])
    if cursor.fetchone() is None:
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))
        print(f"created database {config['NAME']}")
connection.close()
