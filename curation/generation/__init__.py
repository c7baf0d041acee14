"""Candidate generation: K sampled responses per prompt, then items built from them.

``params`` (the job's parameters and their check), ``services``
(``generate_create``), ``runner`` (the 'generate' job; what a run does is in
its docstring), ``views`` and ``urls`` (the generate page). The model work is
``curation.llm.generate``.
"""
