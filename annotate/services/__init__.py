"""Writes of the collection side. Views, API, commands and tasks call these."""
