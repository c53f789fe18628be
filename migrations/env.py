"""Alembic environment: the URL comes from the caller (app.migrate) or the environment.

A plain engine is used on purpose: the app's SQLite engine turns foreign keys on, and
SQLite's table rebuilds (how batch mode drops a column) must run with them off.
"""

from alembic import context
from sqlalchemy import create_engine

from app.models import Base
from config import config_from_env

config = context.config
url = config.attributes.get("url") or config_from_env().DATABASE_URL


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, render_as_batch=True, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
