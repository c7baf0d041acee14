"""Magpie-style instruction synthesis.

The 'synthesize' job: ``params`` (its parameters and their check),
``services`` (``synthesize_create``), ``runner`` (what a run does, in its
docstring). The parts it is made of: ``template`` (the pre-query template
from the tokenizer's chat template), ``filters`` (pure: length, language,
duplicates, …), ``embed`` (near-duplicate embeddings), ``tags`` (quality
tags from the model). ``views`` and ``urls``: the launch page and each job's
review page.
"""
