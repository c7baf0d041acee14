"""The PostgreSQL backend, plus: start the embedded cluster before the first connection.

Everything else is Django's ``django.db.backends.postgresql`` (same ``vendor``,
features and SQL); ``manage.py dbshell`` runs the ``psql`` shipped with the
cluster, so no PostgreSQL client needs installing.
"""

from __future__ import annotations

from pathlib import Path

from django.db.backends.postgresql import base, client

from config import embedded


class DatabaseClient(client.DatabaseClient):
    @classmethod
    def settings_to_cmd_args_env(cls, settings_dict, parameters):
        args, env = super().settings_to_cmd_args_env(settings_dict, parameters)
        return [embedded.pg_bin("psql"), *args[1:]], env


class DatabaseWrapper(base.DatabaseWrapper):
    client_class = DatabaseClient

    def get_new_connection(self, conn_params):
        embedded.ensure_postgres(Path(self.settings_dict["EMBEDDED_ROOT"]))
        return super().get_new_connection(conn_params)
