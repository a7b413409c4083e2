using DiffusionLM.Text.Chat;
using Xunit;

namespace DiffusionLM.Tests.Hf;

/// <summary>The real chat templates render as transformers' apply_chat_template(tokenize=False) does.</summary>
public class ChatTemplateTests
{
    /// <summary>LLaDA-8B-Instruct's tokenizer_config.json chat_template (QuentinFitteRey/LLada-Reasoning, llada_local/), JSON-decoded.</summary>
    const string Llada = "{% for message in messages %}{% if loop.index0 == 0 %}{{ bos_token }}{% endif %}{% if message['role'] == 'user' %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% elif message['role'] == 'assistant' %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% else %}{{ eos_token }}{% endif %}";

    /// <summary>
    /// Qwen2.5-Instruct's chat_template (as quoted from Qwen2.5-3B-Instruct's tokenizer_config.json), the
    /// template family Dream-v0-Instruct-7B ships; JSON-decoded.
    /// </summary>
    const string Qwen25 = "{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n    {%- if messages[0]['role'] == 'system' %}\n        {{- messages[0]['content'] }}\n    {%- else %}\n        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}\n    {%- endif %}\n    {{- \"\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>\" }}\n    {%- for tool in tools %}\n        {{- \"\\n\" }}\n        {{- tool | tojson }}\n    {%- endfor %}\n    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": <function-name>, \\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n{%- else %}\n    {%- if messages[0]['role'] == 'system' %}\n        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n    {%- else %}\n        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n    {%- endif %}\n{%- endif %}\n{%- for message in messages %}\n    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or (message.role == \"assistant\" and not message.tool_calls) %}\n        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n    {%- elif message.role == \"assistant\" %}\n        {{- '<|im_start|>' + message.role }}\n        {%- if message.content %}\n            {{- '\\n' + message.content }}\n        {%- endif %}\n        {%- for tool_call in message.tool_calls %}\n            {%- if tool_call.function is defined %}\n                {%- set tool_call = tool_call.function %}\n            {%- endif %}\n            {{- '\\n<tool_call>\\n{\"name\": \"' }}\n            {{- tool_call.name }}\n            {{- '\", \"arguments\": ' }}\n            {{- tool_call.arguments | tojson }}\n            {{- '}\\n</tool_call>' }}\n        {%- endfor %}\n        {{- '<|im_end|>\\n' }}\n    {%- elif message.role == \"tool\" %}\n        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != \"tool\") %}\n            {{- '<|im_start|>user' }}\n        {%- endif %}\n        {{- '\\n<tool_response>\\n' }}\n        {{- message.content }}\n        {{- '\\n</tool_response>' }}\n        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n            {{- '<|im_end|>\\n' }}\n        {%- endif %}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n";

    static readonly Dictionary<string, string> LladaTokens = new() { ["bos_token"] = "<|startoftext|>", ["eos_token"] = "<|endoftext|>" };

    [Fact]
    public void LladaTemplate()
    {
        var t = new ChatTemplate(Llada, LladaTokens);
        Assert.Equal("<|startoftext|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            t.Render([new ChatMessage("user", "  What is 2+2? \n")]));
        // Without a generation prompt the conversation ends with eos; "| trim" binds to the content only.
        Assert.Equal("<|startoftext|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nhello<|eot_id|><|endoftext|>",
            t.Render([new ChatMessage("user", "hi"), new ChatMessage("assistant", " hello ")], addGenerationPrompt: false));
    }

    [Fact]
    public void QwenDreamTemplate()
    {
        var t = new ChatTemplate(Qwen25);
        Assert.Equal("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
            t.Render([new ChatMessage("user", "What is 2+2?")]));
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n",
            t.Render([new ChatMessage("system", "Be brief."), new ChatMessage("user", "Hi"), new ChatMessage("assistant", "Hello")], addGenerationPrompt: false));
    }

    [Fact]
    public void WhitespaceControlLoopsNamespacesAndFilters()
    {
        var t = JinjaTemplate.Parse("{% set ns = namespace(n=0) %}\n  {% for x in xs if x != 2 %}\n{{ loop.index }}:{{ x }}{% if not loop.last %},{% endif %}{% set ns.n = ns.n + x %}\n  {% endfor %}\nsum={{ ns.n }} {{ xs|length - 1 }} {{ 'a b'.split()|join('-') }} {{ {'k': [1, 'x', none]}|tojson }} {{ xs[::-1] }} {{ 'yes' if xs[0] is defined else 'no' }}{# gone #}");
        Assert.Equal("1:1,2:3sum=4 2 a-b {\"k\": [1, \"x\", null]} [3, 2, 1] yes",
            t.Render(new Dictionary<string, object?> { ["xs"] = new List<object?> { 1L, 2L, 3L } }));
        Assert.Throws<JinjaException>(() => JinjaTemplate.Parse("{{ raise_exception('bad role') }}").Render(new Dictionary<string, object?>()));
    }
}
