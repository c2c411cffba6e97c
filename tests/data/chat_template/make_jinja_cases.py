#!/usr/bin/env python3
"""Writes jinja_cases.json: templates rendered by Python jinja2 with the environment transformers'
apply_chat_template uses (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
tojson = json.dumps(ensure_ascii=False, ...), raise_exception). The C++ interpreter must reproduce
each "expected" string exactly; cases with "error": true must fail to render.

Run: python3 tests/data/chat_template/make_jinja_cases.py  (needs jinja2 >= 3.1)
"""
import json
import os

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment


class GenerationBlock(jinja2.ext.Extension):
    """transformers' {% generation %} tag (AssistantTracker): renders its body unchanged."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_body", []), [], [], body).set_lineno(lineno)

    def _body(self, caller):
        return caller()


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols, GenerationBlock])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is this?"}]},
    {"role": "assistant", "content": "A cat."},
    {"role": "user", "content": "  Thanks!  "},
]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather «now»",
                                           "parameters": {"type": "object", "properties": {
                                               "city": {"type": "string"}}, "required": ["city"]}}}]
CONTEXT = {"messages": MESSAGES, "tools": TOOLS, "n": 7, "f": 2.5, "s": "Hello, World",
           "items": [3, 1, 2], "words": ["b", "A", "c", "a"], "empty": [], "d": {"b": 1, "a": 2},
           "nothing": None, "flag": True, "uni": "héllo wörld ✓"}

TEMPLATES = {
    # whitespace control
    "trim_blocks": "{% if true %}\nyes\n{% endif %}\nafter",
    "lstrip_blocks": "<ul>\n    {% for x in items %}\n    <li>{{ x }}</li>\n    {% endfor %}\n</ul>",
    "dash_control": "a   {{- ' b ' -}}   c\n  {%- if true -%}  d  {%- endif -%}\n  e",
    "plus_control": "  {%+ if true %}x{% endif +%}\ny",
    "comment": "a {# note #}\nb  {#- trimmed -#}  c\n    {# own line #}\nd",
    "raw": "{% raw %}{{ not evaluated }}{% endraw %}",
    "trailing_newline": "line\n",
    "crlf": "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\nc",
    # loops
    "loop_vars": "{% for m in messages %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.length }}/"
                 "{{ loop.revindex }}/{{ loop.first }}/{{ loop.last }} {% endfor %}",
    "loop_filter": "{% for m in messages if m.role == 'user' %}{{ loop.index }}:{{ loop.length }} "
                   "{% endfor %}",
    "loop_else": "{% for x in empty %}{{ x }}{% else %}none{% endfor %}",
    "loop_break_continue": "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}"
                           "{% if x > 4 %}{% break %}{% endif %}{{ x }}{% endfor %}",
    "loop_unpack": "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
    "loop_dict_keys": "{% for k in d %}{{ k }}{% endfor %}",
    "loop_string": "{% for c in 'abc' %}[{{ c }}]{% endfor %}",
    "loop_prev_next": "{% for x in items %}{{ loop.previtem }}-{{ x }}-{{ loop.nextitem }} {% endfor %}",
    "loop_cycle": "{% for x in items %}{{ loop.cycle('odd', 'even') }} {% endfor %}",
    "nested_loops": "{% for a in [1, 2] %}{% for b in ['x', 'y'] %}{{ a }}{{ b }}{{ loop.index }} "
                    "{% endfor %}{% endfor %}",
    "loop_scope": "{% set x = 'outer' %}{% for i in [1, 2] %}{% set x = i %}{{ x }}{% endfor %}{{ x }}",
    # set and namespace
    "namespace": "{% set ns = namespace(count=0, last=none) %}{% for m in messages %}"
                 "{% set ns.count = ns.count + 1 %}{% set ns.last = m.role %}{% endfor %}"
                 "{{ ns.count }} {{ ns.last }}",
    "set_block": "{% set greeting %}Hi {{ s }}!{% endset %}[{{ greeting }}]",
    "set_tuple": "{% set a, b = 1, 2 %}{{ a }}{{ b }}",
    "set_in_if": "{% if true %}{% set y = 3 %}{% endif %}{{ y }}",
    # conditionals, tests, operators
    "if_elif_else": "{% for x in [1, 2, 3] %}{% if x == 1 %}one{% elif x == 2 %}two"
                    "{% else %}many{% endif %} {% endfor %}",
    "tests": "{{ s is string }} {{ n is number }} {{ n is integer }} {{ f is float }} "
             "{{ d is mapping }} {{ items is iterable }} {{ nothing is none }} {{ missing is defined }} "
             "{{ missing is undefined }} {{ n is odd }} {{ n is even }} {{ 9 is divisibleby 3 }} "
             "{{ flag is boolean }} {{ s is not string }} {{ items is sequence }} {{ 'ab' is lower }}",
    "in_operators": "{{ 'a' in d }} {{ 'z' not in d }} {{ 2 in items }} {{ 'World' in s }} "
                    "{{ 'image' in messages[1].content[0] }}",
    "comparisons": "{{ 1 < 2 < 3 }} {{ 2 >= 3 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 == 1.0 }} "
                   "{{ none == none }} {{ 'x' != 'y' }}",
    "boolean_ops": "{{ true and 'x' }} {{ false or 'y' }} {{ not flag }} {{ nothing or 'dflt' }} "
                   "{{ (1 and 0) }}",
    "arithmetic": "{{ 7 + 3 }} {{ 7 - 10 }} {{ 7 * 3 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} "
                  "{{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ f * 2 }} {{ 1e20 }} "
                  "{{ 0.1 + 0.2 }} {{ -n }} {{ 10 / 4 }} {{ 1.0 }} {{ 3 * 'ab' }} {{ [0] * 3 }}",
    "concat": "{{ 'a' ~ 1 ~ none ~ true }} {{ 'x' + 'y' }} {{ [1] + [2] }} {{ s ~ missing }}",
    "conditional_expr": "{{ 'yes' if flag else 'no' }} [{{ 'never' if false }}] "
                        "{{ 'a' if false else 'b' if true else 'c' }}",
    "subscripts": "{{ messages[0]['role'] }} {{ messages[0].content }} {{ messages[-1].role }} "
                  "{{ s[0] }} {{ s[-1] }} {{ d['a'] }} {{ messages[1].content[1].text }}",
    "slices": "{{ items[1:] }} {{ items[:-1] }} {{ items[::-1] }} {{ s[7:] }} {{ s[::2] }} "
              "{{ messages[1:3]|length }} {{ uni[1:4] }}",
    "literals": "{{ [1, 'two', none, true, 2.5] }} {{ {'k': 'v', 'n': [1]} }} {{ (1, 2) }} "
                "{{ 'it\\'s' }} {{ \"q\\\"uote\" }} {{ 'tab\\there' }}",
    "undefined": "[{{ missing }}] [{{ d.missing }}] [{{ missing|default('dflt') }}] "
                 "[{{ missing|length }}] [{{ nothing|default('x') }}] [{{ ''|default('e', true) }}]",
    "print_values": "{{ nothing }} {{ flag }} {{ f }} {{ d }} {{ words }} {{ 3.0 }} {{ 1e-7 }}",
    # filters
    "filters_string": "{{ '  pad  '|trim }}|{{ s|upper }}|{{ s|lower }}|{{ 'hello world'|title }}|"
                      "{{ 'hELLO'|capitalize }}|{{ s|replace('l', 'L') }}|{{ s|length }}|"
                      "{{ 42|string ~ '!' }}|{{ uni|upper }}|{{ uni|length }}|{{ 'xxhixx'|trim('x') }}",
    "filters_numbers": "{{ '42'|int + 1 }} {{ 'x'|int }} {{ 'x'|int(5) }} {{ 3.9|int }} "
                       "{{ '2.5'|float }} {{ -3|abs }} {{ 2.567|round(2) }} {{ 2.5|round }} "
                       "{{ 7|float }}",
    "filters_seq": "{{ items|first }} {{ items|last }} {{ items|join(',') }} {{ words|sort }} "
                   "{{ words|sort(case_sensitive=true) }} {{ items|sort(reverse=true) }} "
                   "{{ items|sum }} {{ items|min }} {{ items|max }} {{ words|unique|list }} "
                   "{{ items|reverse|list }} {{ 'abc'|list }} {{ d|items|list }} {{ d|dictsort }}",
    "filters_attr": "{{ messages|selectattr('role', 'equalto', 'user')|list|length }} "
                    "{{ messages|rejectattr('role', 'equalto', 'user')|map(attribute='role')|join(',') }} "
                    "{{ messages|map(attribute='role')|first }} {{ items|select('odd')|list }} "
                    "{{ items|reject('odd')|list }} {{ words|map('upper')|join }} "
                    "{{ messages|selectattr('content', 'string')|list|length }}",
    "filter_indent": "{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(4, true) }}",
    "tojson_default": "{{ messages|tojson }}",
    "tojson_indent": "{{ tools|tojson(indent=2) }}",
    "tojson_scalars": "{{ nothing|tojson }} {{ flag|tojson }} {{ f|tojson }} {{ uni|tojson }} "
                      "{{ 'quote\" back\\\\ nl\\n tab\\t'|tojson }} {{ d|tojson(sort_keys=true) }} "
                      "{{ [1.0, 2]|tojson }} {{ d|tojson(separators=(',', ':')) }}",
    "tojson_ensure_ascii": "{{ uni|tojson(ensure_ascii=true) }}",
    # methods
    "methods": "{{ '  x  '.strip() }}|{{ 'xxaxx'.lstrip('x') }}|{{ 'xxaxx'.rstrip('x') }}|"
               "{{ s.startswith('Hell') }}|{{ s.endswith(('x', 'World')) }}|{{ 'a,b,,c'.split(',') }}|"
               "{{ ' a  b '.split() }}|{{ s.lower() }}|{{ s.upper() }}|{{ s.replace('o', '0', 1) }}|"
               "{{ d.get('a') }}|{{ d.get('zz', 'dflt') }}|{{ d.keys()|list }}|{{ d.values()|list }}|"
               "{{ s.find('W') }}|{{ s.count('l') }}|{{ '-'.join(words) }}|{{ s.title() }}",
    "chat_like": "{%- for message in messages %}\n"
                 "{%- if message.content is string %}\n"
                 "<|{{ message.role }}|>{{ message.content | trim }}\n"
                 "{%- else %}\n"
                 "<|{{ message.role }}|>{% for part in message.content %}"
                 "{% if part.type == 'text' %}{{ part.text }}{% else %}<{{ part.type }}>{% endif %}"
                 "{% endfor %}\n\n"
                 "{%- endif %}\n"
                 "{%- endfor %}\n"
                 "{%- if tools %}\n"
                 "TOOLS: {{ tools | map(attribute='function.name') | join(', ') }}\n"
                 "{%- endif %}",
    "range_forms": "{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ range(5, 0, -2)|list }}",
    "generation_block": "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}"
                        "{{ m.content }}{% endgeneration %}{% endif %}{% endfor %}",
    "string_escapes": "{{ 'a\\u00e9\\x41\\n' }}{{ 'x' 'y' }}",
}

ERRORS = {
    "raise_exception": "{{ raise_exception('bad role') }}",
    "undefined_attr": "{{ missing.attr }}",
    "type_error_add": "{{ 1 + 'a' }}",
    "div_zero": "{{ 1 // 0 }}",
}


# Chat templates in the styles of common model families (written for these tests), rendered over
# conversations with tools, tool calls and tool results.
TOOL_LIST = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string", "description": "City «name»"},
                                         "days": {"type": "integer"}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "search", "description": "Search",
                                      "parameters": {"type": "object", "properties": {}}}}]
CONVERSATIONS = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "system", "content": "  Sys  "}, {"role": "user", "content": "What's the weather?"},
     {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {
         "name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}]},
     {"role": "tool", "content": "{\"temp\": 21}"}, {"role": "tool", "content": "second"},
     {"role": "assistant", "content": "Sunny, 21°C."}, {"role": "user", "content": "thanks"}],
    [{"role": "user", "content": "a"}, {"role": "assistant", "content": " b "},
     {"role": "user", "content": "c"}],
]


def conversation_cases(env):
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
    cases = []
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            template = f.read()
        for i, conv in enumerate(CONVERSATIONS):
            for tools in (None, TOOL_LIST):
                for agp in (False, True):
                    context = {"messages": conv, "tools": tools, "add_generation_prompt": agp,
                               "bos_token": "<s>", "eos_token": "</s>"}
                    case = {"name": f"{name}/conv{i}/tools={tools is not None}/agp={agp}",
                            "template_file": name, "context": context}
                    try:
                        case["expected"] = env.from_string(template).render(**context)
                    except jinja2.exceptions.TemplateError:
                        case["error"] = True
                    cases.append(case)
    return cases


def main():
    env = make_env()
    cases = conversation_cases(env)
    for name, template in TEMPLATES.items():
        text = env.from_string(template).render(**CONTEXT)
        cases.append({"name": name, "template": template, "expected": text})
    for name, template in ERRORS.items():
        try:
            env.from_string(template).render(**CONTEXT)
        except Exception:  # noqa: BLE001 - any render error is what the case expects
            cases.append({"name": name, "template": template, "error": True})
            continue
        raise SystemExit(f"{name}: expected an error")
    out = {"jinja2_version": jinja2.__version__, "context": CONTEXT, "cases": cases}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jinja_cases.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {path}")


if __name__ == "__main__":
    main()
