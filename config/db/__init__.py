"""Django's PostgreSQL backend for the embedded cluster (``config.embedded``): it starts the cluster on the
first connection of a process. Selected by the settings when ``DATABASE_URL`` is unset; never otherwise."""
