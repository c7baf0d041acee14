"""The curator's project pages: the project list with progress, a project's
overview (progress per kind, annotators, imports, recent jobs), members and
roles (``services``: owners add, change and remove members) and the import
upload (``annotate.services.importing``, the service the command and the API
use). ``selectors``, ``forms``, ``views``, ``urls``.
"""
