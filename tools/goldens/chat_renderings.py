#!/usr/bin/python3
"""Golden chat-template renderings from Python's Jinja2, configured as transformers' apply_chat_template.

transformers (tokenization_utils_base / utils/chat_template_utils: _compile_jinja_template) renders a
chat template with ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions
[loopcontrols]), a `tojson` filter that is json.dumps(ensure_ascii=False), a `raise_exception`
global, and the context messages, add_generation_prompt and the special tokens (bos_token, ...).
This script does the same with Debian's python3-jinja2 and writes template, context and output for
every case; tests/DiffusionLM.Tests/Hf/ChatTemplateTests.cs renders the same inputs with the
project's own Jinja interpreter and compares.

  /usr/bin/python3 tools/goldens/chat_renderings.py --out tests/DiffusionLM.Tests/Hf/Goldens/chat_renderings.json
"""
import argparse
import json
import os

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

# LLaDA-8B-Instruct's tokenizer_config.json chat_template (as quoted in QuentinFitteRey/LLada-Reasoning, llada_local/).
LLADA = ("{% for message in messages %}{% if loop.index0 == 0 %}{{ bos_token }}{% endif %}{% if message['role'] == 'user' %}"
         "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
         "{% elif message['role'] == 'assistant' %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + "
         "message['content'] | trim + '<|eot_id|>' }}{% endif %}{% endfor %}{% if add_generation_prompt %}"
         "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% else %}{{ eos_token }}{% endif %}")
LLADA_TOKENS = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>"}

# Qwen2.5-Instruct's chat_template (Qwen2.5-3B-Instruct's tokenizer_config.json), the family Dream-v0-Instruct-7B ships.
QWEN25 = (
    "{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n    {%- if messages[0]['role'] == 'system' %}\n        {{- messages[0]['content'] }}\n"
    "    {%- else %}\n        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}\n    {%- endif %}\n"
    "    {{- \"\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function "
    "signatures within <tools></tools> XML tags:\\n<tools>\" }}\n    {%- for tool in tools %}\n        {{- \"\\n\" }}\n        {{- tool | tojson }}\n"
    "    {%- endfor %}\n    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": <function-name>, \\\"arguments\\\": <args-json-object>}\\n"
    "</tool_call><|im_end|>\\n\" }}\n{%- else %}\n    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n    {%- else %}\n"
    "        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n"
    "    {%- endif %}\n{%- endif %}\n{%- for message in messages %}\n"
    "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or (message.role == \"assistant\" and not message.tool_calls) %}\n"
    "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n    {%- elif message.role == \"assistant\" %}\n"
    "        {{- '<|im_start|>' + message.role }}\n        {%- if message.content %}\n            {{- '\\n' + message.content }}\n"
    "        {%- endif %}\n        {%- for tool_call in message.tool_calls %}\n            {%- if tool_call.function is defined %}\n"
    "                {%- set tool_call = tool_call.function %}\n            {%- endif %}\n"
    "            {{- '\\n<tool_call>\\n{\"name\": \"' }}\n            {{- tool_call.name }}\n            {{- '\", \"arguments\": ' }}\n"
    "            {{- tool_call.arguments | tojson }}\n            {{- '}\\n</tool_call>' }}\n        {%- endfor %}\n"
    "        {{- '<|im_end|>\\n' }}\n    {%- elif message.role == \"tool\" %}\n"
    "        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != \"tool\") %}\n            {{- '<|im_start|>user' }}\n"
    "        {%- endif %}\n        {{- '\\n<tool_response>\\n' }}\n        {{- message.content }}\n        {{- '\\n</tool_response>' }}\n"
    "        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n            {{- '<|im_end|>\\n' }}\n"
    "        {%- endif %}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n")

# The project's own SFT frame (`dlm train --sft-format qa` saves it) and a template exercising the interpreter's corners.
QA = "{% for message in messages %}{% if message['role'] == 'user' %}Q: {{ message['content'] }}\nA:{% endif %}{% endfor %}"
CORNERS = ("{% set ns = namespace(n=0) %}\n  {% for x in xs if x != 2 %}\n{{ loop.index }}:{{ x }}{% if not loop.last %},{% endif %}"
           "{% set ns.n = ns.n + x %}\n  {% endfor %}\nsum={{ ns.n }} {{ xs|length - 1 }} {{ 'a b'.split()|join('-') }} "
           "{{ {'k': [1, 'x', none]}|tojson }} {{ xs[::-1] }} {{ 'yes' if xs[0] is defined else 'no' }}{# gone #}"
           "{% for m in messages %}[{{ m.role|upper }}|{{ m.content|trim|replace('a', 'A') }}|{{ loop.revindex }}]{% endfor %}"
           "{{ messages|length }} {{ (messages|last).role }} {{ (messages|first).content|title }}"
           " {{ 'é日😀'|tojson }} {{ [1, 2]|tojson }} {{ range(3)|list }} {{ 'Ab'.lower() }}{{ 'ab'.startswith('a') }}")

CONVERSATIONS = {
    "one_user": [{"role": "user", "content": "What is 2+2?"}],
    "padded_user": [{"role": "user", "content": "  What is 2+2? \n"}],
    "two_turns": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " hello "},
                  {"role": "user", "content": "and then?"}],
    "with_system": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello"}],
    "unicode": [{"role": "user", "content": "Café — 日本語 😀\n\"quoted\" {braces}"}],
}

CASES = [
    ("llada", LLADA, LLADA_TOKENS, ["one_user", "padded_user", "two_turns", "with_system", "unicode"]),
    ("qwen25", QWEN25, {}, ["one_user", "two_turns", "with_system", "unicode"]),
    ("qa", QA, {}, ["one_user", "two_turns", "unicode"]),
    ("corners", CORNERS, {}, ["two_turns", "with_system"]),
]


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    env = environment()
    out = []
    for name, text, tokens, convs in CASES:
        t = env.from_string(text)
        for conv in convs:
            for gen in (True, False):
                extra = {"xs": [1, 2, 3]} if name == "corners" else {}
                rendered = t.render(messages=CONVERSATIONS[conv], add_generation_prompt=gen, **tokens, **extra)
                out.append({"template": name, "conversation": conv, "add_generation_prompt": gen, "rendered": rendered})
    doc = {
        "made_by": "tools/goldens/chat_renderings.py",
        "command": "/usr/bin/python3 tools/goldens/chat_renderings.py --out tests/DiffusionLM.Tests/Hf/Goldens/chat_renderings.json",
        "jinja2": jinja2.__version__,
        "templates": {name: {"text": text, "special_tokens": tokens} for name, text, tokens, _ in CASES},
        "conversations": CONVERSATIONS,
        "extra_context": {"corners": {"xs": [1, 2, 3]}},
        "cases": out,
    }
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    os.replace(tmp, a.out)
    print(f"{len(out)} renderings")


if __name__ == "__main__":
    main()
