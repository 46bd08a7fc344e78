"""Create the database named in DATABASE_URL if it does not exist yet (PostgreSQL)."""
import os

import environ
import psycopg
from psycopg import sql

config = environ.Env.db_url_config(os.environ["DATABASE_URL"])
address = {"host": config["HOST"], "port": config["PORT"] or 5432}
# The embedded server's URL names its socket folder as an option (?host=...).
address.update(config.get("OPTIONS", {}))
connection = psycopg.connect(
    dbname="postgres", user=config["USER"], password=config["PASSWORD"], autocommit=True, **address
)
with connection.cursor() as cursor:
    cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]])
    if cursor.fetchone() is None:
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))
        print(f"created database {config['NAME']}")
connection.close()
