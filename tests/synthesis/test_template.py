"""Pre-query templates derived from chat templates written out here in the
style of each model family (docs/algorithms.md#pre-query-template gives the expected strings)."""

import pytest

from curation.synthesis.template import TemplateError, pre_query_template

LLAMA3 = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)
QWEN2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
GEMMA = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}{% if message['role'] == 'assistant' %}{% set role = 'model' %}"
    "{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}"
)
PHI3 = (
    "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\\n' + message['content'] + '<|end|>\\n'}}"
    "{% elif message['role'] == 'user' %}{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}"
    "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}"
)


def test_llama3():
    pq = pre_query_template(LLAMA3, bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>")
    assert pq.prefix == "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
    assert pq.stop[0] == "<|eot_id|>"


def test_llama3_with_system_prompt():
    pq = pre_query_template(LLAMA3, system_prompt="You are a math tutor.", bos_token="<|begin_of_text|>")
    assert pq.prefix == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a math tutor.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\n"
    )


def test_qwen2_keeps_the_default_system_turn():
    pq = pre_query_template(QWEN2)
    assert pq.prefix == "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
    assert pq.stop[0] == "<|im_end|>"
    custom = pre_query_template(QWEN2, system_prompt="Be terse.")
    assert custom.prefix == "<|im_start|>system\nBe terse.<|im_end|>\n<|im_start|>user\n"


def test_gemma():
    pq = pre_query_template(GEMMA, bos_token="<bos>", eos_token="<eos>")
    assert pq.prefix == "<bos><start_of_turn>user\n"
    assert pq.stop == ("<end_of_turn>", "<eos>")
    with pytest.raises(TemplateError, match="System role not supported"):
        pre_query_template(GEMMA, system_prompt="x", bos_token="<bos>")


def test_phi3():
    pq = pre_query_template(PHI3, eos_token="<|endoftext|>")
    assert pq.prefix == "<|user|>\n"
    assert pq.stop[0] == "<|end|>"


def test_template_that_drops_the_message_is_refused():
    with pytest.raises(TemplateError, match="verbatim"):
        pre_query_template("{% for m in messages %}{{ m['role'] }}{% endfor %}")
