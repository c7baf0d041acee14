"""Magpie pre-query templates, derived from a tokenizer's own chat template.

Magpie (Xu et al., docs/algorithms.md#pre-query-template) gets a new instruction from an aligned
chat model by giving it only the template up to where the user's message
would begin. Rather than keep a table of strings per model family, we render
a conversation whose user message is a sentinel and cut the text just before
the sentinel. That works for any chat template: Llama-3, Qwen2 (ChatML),
Gemma, Phi-3, SmolLM2 — including templates that insert a default system
prompt when none is given (Qwen2.5, SmolLM2), whose pre-query template then
contains that system turn, as Magpie does for Qwen2.5.

The end of the user turn is found the same way: render a conversation with
the sentinel followed by an assistant turn and take the text between the
sentinel and the assistant's generation prompt; its first non-blank piece is
the stop string for instruction sampling (``<|im_end|>``, ``<|eot_id|>``,
``<end_of_turn>``, ``<|end|>``).
"""

from __future__ import annotations

from dataclasses import dataclass

from transformers.utils.chat_template_utils import render_jinja_template

SENTINEL = "\u2063DOCKET-MAGPIE-SENTINEL\u2063"


class TemplateError(ValueError):
    """The chat template cannot give a pre-query template."""


@dataclass(frozen=True)
class PreQuery:
    """What instruction sampling needs: the prefix to continue and where the
    user's turn ends."""

    prefix: str
    stop: tuple[str, ...]
    system_prompt: str | None


def _render(chat_template: str, messages: list[dict], *, add_generation_prompt: bool, special_tokens: dict) -> str:
    rendered, _indices = render_jinja_template(
        conversations=[messages],
        chat_template=chat_template,
        add_generation_prompt=add_generation_prompt,
        **special_tokens,
    )
    return rendered[0]


def pre_query_template(
    chat_template: str, *, system_prompt: str | None = None, bos_token: str = "", eos_token: str = ""
) -> PreQuery:
    """The text up to where the user's message starts, and the user turn's stop strings.

    ``system_prompt`` adds a system turn before the user's (Magpie's weighted
    system prompts); without it the template's own default, if any, stays.
    """
    special = {"bos_token": bos_token, "eos_token": eos_token}
    messages = [{"role": "user", "content": SENTINEL}]
    if system_prompt:
        messages.insert(0, {"role": "system", "content": system_prompt})
    try:
        rendered = _render(chat_template, messages, add_generation_prompt=False, special_tokens=special)
    except Exception as error:  # jinja raises many kinds (e.g. "system role not supported")
        raise TemplateError(f"the chat template could not render this conversation: {error}") from error
    if rendered.count(SENTINEL) != 1:
        raise TemplateError("the chat template does not place the user's message verbatim")
    prefix = rendered.split(SENTINEL)[0]

    with_answer = _render(
        chat_template,
        [*messages, {"role": "assistant", "content": SENTINEL + "2"}],
        add_generation_prompt=False,
        special_tokens=special,
    )
    between = with_answer.split(SENTINEL, 1)[1].split(SENTINEL + "2")[0]
    stop = _stop_strings(between, eos_token)
    return PreQuery(prefix=prefix, stop=stop, system_prompt=system_prompt)


def _stop_strings(between: str, eos_token: str) -> tuple[str, ...]:
    """Stop strings from the text that separates a user message from the answer."""
    stripped = between.strip()
    stops: list[str] = []
    if stripped:
        # The first token-looking piece ends the user turn: "<|im_end|>",
        # "<|eot_id|>", "<end_of_turn>", "<|end|>", "[/INST]".
        first = stripped.split()[0]
        if first.startswith("<") and ">" in first:
            first = first[: first.index(">") + 1]
        stops.append(first)
    if eos_token and eos_token not in stops:
        stops.append(eos_token)
    return tuple(stops)


def pre_query_for_tokenizer(tokenizer, *, system_prompt: str | None = None) -> PreQuery:
    """``pre_query_template`` for a Hugging Face tokenizer's own chat template."""
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        raise TemplateError("the tokenizer has no chat template")
    return pre_query_template(
        template,
        system_prompt=system_prompt,
        bos_token=tokenizer.bos_token or "",
        eos_token=tokenizer.eos_token or "",
    )
