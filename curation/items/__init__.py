"""Items as a curator sees them: the item browser, one item with every
annotation, and a curator's actions on an item (exclude / include, resolve,
ask for more judgments: ``services``). ``selectors`` (an item's state, the
filtered browser), ``presenters`` (an item's annotations labelled A, B, …,
shared with the audit's drill-down), ``forms``, ``views``, ``urls``.
"""
