"""The algorithmic judge: a model annotates items the way a person does.

``params`` (the job's parameters and their check), ``services``
(``judge_create``), ``runner`` (the 'judge' job; how the judge decides and
what it stores is in its docstring), ``views`` and ``urls`` (the judge page).
The next-token scoring is ``curation.llm.judge``.
"""
