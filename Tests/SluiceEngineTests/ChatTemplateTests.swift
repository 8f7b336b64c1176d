import SluiceCore
import Testing

@testable import SluiceEngine

/// Parses and renders a template with the given variables.
private func render(_ source: String, _ variables: [String: TemplateValue] = [:]) throws -> String {
    try ChatTemplate(source: source).render(variables: variables)
}

/// Returns the error that parsing or rendering `source` throws, or nil when it succeeds.
private func renderError(_ source: String, _ variables: [String: TemplateValue] = [:]) -> ChatTemplateError? {
    do {
        _ = try ChatTemplate(source: source).render(variables: variables)
        return nil
    } catch {
        return error
    }
}

private func messages(_ pairs: [(String, String)]) -> TemplateValue {
    .list(pairs.map { .dictionary(TemplateDictionary([("role", .string($0.0)), ("content", .string($0.1))])) })
}

@Suite("ChatTemplate expressions")
struct ChatTemplateExpressionTests {
    @Test(arguments: [
        ("{{ 1 + 2 }}", "3"),
        ("{{ 7 - 10 }}", "-3"),
        ("{{ 6 * 7 }}", "42"),
        ("{{ 7 / 2 }}", "3.5"),
        ("{{ 8 / 2 }}", "4.0"),
        ("{{ 7 // 2 }}", "3"),
        ("{{ -7 // 2 }}", "-4"),
        ("{{ -7 % 3 }}", "2"),
        ("{{ 7 % -3 }}", "-2"),
        ("{{ 2 ** 10 }}", "1024"),
        ("{{ 2 ** -1 }}", "0.5"),
        ("{{ 1 + 2 * 3 }}", "7"),
        ("{{ (1 + 2) * 3 }}", "9"),
        ("{{ -3 + 1 }}", "-2"),
        ("{{ 1.5 + 1 }}", "2.5"),
        ("{{ true + 1 }}", "2"),
        ("{{ 'a' ~ 1 ~ none }}", "a1None"),
        ("{{ 'ab' + 'cd' }}", "abcd"),
        ("{{ 'ab' * 3 }}", "ababab"),
        ("{{ [1, 2] + [3] }}", "[1, 2, 3]"),
        ("{{ none }}", "None"),
        ("{{ None }}", "None"),
        ("{{ true }}{{ False }}", "TrueFalse"),
        ("{{ 1.0 }} {{ 0.1 }} {{ 1e-5 }} {{ 2.5e3 }}", "1.0 0.1 1e-05 2500.0"),
        ("{{ 1_000 }}", "1000"),
        ("{{ [1, 'a', none, true, 1.5] }}", "[1, 'a', None, True, 1.5]"),
        ("{{ {'a': 1, 'b': [2]} }}", "{'a': 1, 'b': [2]}"),
        ("{{ \"it's\" }} {{ ['it\\'s'] }}", "it's [\"it's\"]"),
        ("{{ 'tab\\there\\nnew' }}", "tab\there\nnew"),
        ("{{ '\\u00e9\\x41' }}", "éA"),
        ("{{ 'a' 'b' }}", "ab"),
        ("{{ (1, 2) }}", "[1, 2]"),
        ("{{ missing }}", ""),
        ("{{ 1 == 1.0 }} {{ 1 != 2 }} {{ 'a' < 'b' }} {{ 3 >= 3 }}", "True True True True"),
        ("{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }}", "True False"),
        ("{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'abc' }}", "True True True True"),
        ("{{ not true }} {{ not 0 }} {{ not 'x' }}", "False True False"),
        ("{{ 0 or 'fallback' }} {{ 'first' or 'second' }} {{ 1 and 'both' }} {{ 0 and 'never' }}", "fallback first both 0"),
        ("{{ 'yes' if 1 > 0 else 'no' }} {{ 'yes' if 0 else 'no' }}", "yes no"),
        ("[{{ 'shown' if false }}]", "[]"),
        ("{{ [10, 20, 30][1] }} {{ [10, 20, 30][-1] }} {{ [10, 20][5] }}", "20 30 "),
        ("{{ 'hello'[1] }} {{ 'hello'[-1] }}", "e o"),
        ("{{ [1, 2, 3, 4][1:] }} {{ [1, 2, 3, 4][:-1] }} {{ [1, 2, 3, 4][::2] }}", "[2, 3, 4] [1, 2, 3] [1, 3]"),
        ("{{ 'hello'[::-1] }} {{ 'hello'[1:3] }} {{ 'hello'[-3:] }} {{ 'hello'[10:] }}", "olleh el llo "),
        ("{{ {'a': 1}['a'] }} {{ {'a': 1}.a }} {{ {'a': 1}.b }}", "1 1 "),
        ("{{ [[1, 2]][0][1] }} {{ [5, 6].1 }}", "2 6"),
    ])
    func evaluates(source: String, expected: String) throws {
        #expect(try render(source) == expected)
    }

    @Test func attributeAndSubscriptAccessAgree() throws {
        let variables: [String: TemplateValue] = ["messages": messages([("user", "hi"), ("assistant", "hello")])]
        #expect(try render("{{ messages[0]['role'] }}/{{ messages[0].role }}", variables) == "user/user")
        #expect(try render("{{ messages[-1].content }}", variables) == "hello")
        #expect(try render("{{ messages[1:] | length }}", variables) == "1")
        #expect(try render("{{ messages[0].name is defined }}", variables) == "False")
    }
}

@Suite("ChatTemplate statements")
struct ChatTemplateStatementTests {
    @Test func ifElifElse() throws {
        let source = "{% if x > 2 %}big{% elif x > 0 %}small{% else %}none{% endif %}"
        #expect(try render(source, ["x": .integer(5)]) == "big")
        #expect(try render(source, ["x": .integer(1)]) == "small")
        #expect(try render(source, ["x": .integer(0)]) == "none")
    }

    @Test func loopVariables() throws {
        let source = """
            {% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ x }}{{ loop.revindex }}\
            {{ loop.revindex0 }}{{ loop.length }}{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %};{% endfor %}
            """
        #expect(try render(source) == "10a323F;21b213;32c103L;")
    }

    @Test func loopNeighboursAndCycle() throws {
        let source = "{% for x in [1, 2, 3] %}{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }}{{ loop.cycle('o', 'e') }}|{% endfor %}"
        #expect(try render(source) == "<1>2o|1<2>3e|2<3>o|")
    }

    @Test func loopElseAndFilter() throws {
        #expect(try render("{% for x in [] %}x{% else %}empty{% endfor %}") == "empty")
        #expect(try render("{% for x in missing %}x{% else %}empty{% endfor %}") == "empty")
        #expect(try render("{% for x in [1, 2, 3, 4] if x is even %}{{ x }}{{ loop.length }},{% endfor %}") == "22,42,")
    }

    @Test func loopOverDictionaryAndUnpacking() throws {
        let source = "{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}"
        #expect(try render(source) == "a=1;b=2;")
        #expect(try render("{% for k in {'a': 1, 'b': 2} %}{{ k }}{% endfor %}") == "ab")
        #expect(try render("{% for c in 'héllo' %}{{ c }}.{% endfor %}") == "h.é.l.l.o.")
        #expect(try render("{% for (a, b) in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}") == "37")
    }

    @Test func nestedLoopsHaveOwnLoopVariable() throws {
        let source = "{% for a in [1, 2] %}{% for b in [1, 2, 3] %}{{ loop.index }}{% endfor %}{{ loop.index }}|{% endfor %}"
        #expect(try render(source) == "1231|1232|")
    }

    @Test func breakAndContinue() throws {
        let source = "{% for x in range(10) %}{% if x == 1 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}"
        #expect(try render(source) == "023")
    }

    @Test func setInsideLoopDoesNotLeak() throws {
        let source = "{% set x = 'outer' %}{% for i in [1, 2] %}{% set x = i %}{{ x }}{% endfor %}{{ x }}"
        #expect(try render(source) == "12outer")
    }

    @Test func namespaceCarriesStateOutOfLoop() throws {
        let source = """
            {% set ns = namespace(count=0, found=false) %}{% for m in messages %}\
            {% if m.role == 'user' %}{% set ns.count = ns.count + 1 %}{% set ns.found = true %}{% endif %}\
            {% endfor %}{{ ns.count }} {{ ns.found }}
            """
        let variables: [String: TemplateValue] = ["messages": messages([("user", "a"), ("assistant", "b"), ("user", "c")])]
        #expect(try render(source, variables) == "2 True")
    }

    @Test func setForms() throws {
        #expect(try render("{% set a, b = 1, 2 %}{{ b }}{{ a }}") == "21")
        #expect(try render("{% set greeting %}Hello {{ name }}!{% endset %}[{{ greeting }}]", ["name": .string("Ann")]) == "[Hello Ann!]")
        #expect(try render("{% set x = [1, 2] %}{% set x = x + [3] %}{{ x }}") == "[1, 2, 3]")
    }

    @Test func macros() throws {
        let source = """
            {% macro tag(name, body='') %}<{{ name }}>{{ body }}</{{ name }}>{% endmacro %}\
            {{ tag('a') }}{{ tag('b', 'x') }}{{ tag(body='y', name='c') }}
            """
        #expect(try render(source) == "<a></a><b>x</b><c>y</c>")
        #expect(try render("{% set top = 'T' %}{% macro m() %}{{ top }}{% endmacro %}{{ m() }}") == "T")
    }

    @Test func comments() throws {
        #expect(try render("a{# a comment with {{ tags }} #}b") == "ab")
        #expect(try render("a  {#- trimmed -#}  b") == "ab")
    }

    @Test func rawBlock() throws {
        #expect(try render("{% raw %}{{ not parsed }}{% endraw %}") == "{{ not parsed }}")
        #expect(try render("{% raw -%}  {{ x }}  {%- endraw %}") == "{{ x }}")
    }

    @Test func generationBlockRendersBody() throws {
        #expect(try render("{% generation %}reply{% endgeneration %}") == "reply")
    }
}

@Suite("ChatTemplate whitespace control")
struct ChatTemplateWhitespaceTests {
    @Test func minusStripsAllWhitespace() throws {
        #expect(try render("a \n {{- 'b' -}} \n c") == "abc")
        #expect(try render("a \n {%- if true -%} \n b \n {%- endif -%} \n c") == "abc")
    }

    @Test func trimBlocksRemovesFirstNewline() throws {
        #expect(try render("{% if true %}\nx\n{% endif %}\ny") == "x\ny")
        #expect(try render("{% if true %}\r\nx{% endif %}") == "x")
        // Output tags keep the newline after them.
        #expect(try render("{{ 'x' }}\ny") == "x\ny")
    }

    @Test func lstripBlocksRemovesIndentBeforeTags() throws {
        let source = "<ul>\n    {% for x in [1, 2] %}\n    <li>{{ x }}</li>\n    {% endfor %}\n</ul>"
        #expect(try render(source) == "<ul>\n    <li>1</li>\n    <li>2</li>\n</ul>")
        // Text before the tag on the same line keeps its spaces.
        #expect(try render("a  {% if true %}b{% endif %}") == "a  b")
    }

    @Test func plusDisablesBlockOptions() throws {
        #expect(try render("  {%+ if true %}x{% endif %}") == "  x")
        #expect(try render("{% if true +%}\nx{% endif %}") == "\nx")
    }
}

@Suite("ChatTemplate filters, tests and methods")
struct ChatTemplateFilterTests {
    @Test(arguments: [
        ("{{ '  padded \\n' | trim }}", "padded"),
        ("{{ 'xxhixx' | trim('x') }}", "hi"),
        ("{{ 'héllo' | length }} {{ [1, 2] | length }} {{ {'a': 1} | count }} {{ missing | length }}", "5 2 1 0"),
        ("{{ 'MiXed' | upper }} {{ 'MiXed' | lower }}", "MIXED mixed"),
        ("{{ 'hello world' | capitalize }} {{ 'hello wORLD-wide' | title }}", "Hello world Hello World-Wide"),
        ("{{ missing | default('dflt') }} {{ 'set' | default('dflt') }} {{ '' | default('dflt', true) }} {{ '' | d('x') }}", "dflt set dflt "),
        ("{{ [1, 2, 3] | join(', ') }} {{ ['a', 'b'] | join }}", "1, 2, 3 ab"),
        ("{{ [3, 1, 2] | first }} {{ [3, 1, 2] | last }} {{ 'abc' | first }}", "3 2 a"),
        ("{{ [3, 1, 2] | sort }} {{ [3, 1, 2] | sort(reverse=true) }} {{ ['b', 'A', 'c'] | sort }}", "[1, 2, 3] [3, 2, 1] ['A', 'b', 'c']"),
        ("{{ [1, 2, 3] | reverse | list }} {{ 'abc' | reverse }}", "[3, 2, 1] cba"),
        ("{{ 'a-b-c' | replace('-', '+') }} {{ 'aaa' | replace('a', 'b', 2) }}", "a+b+c bba"),
        ("{{ '42' | int + 1 }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 3.9 | int }}", "43 4 0 7 3"),
        ("{{ '2.5' | float }} {{ 2 | float }} {{ 2.567 | round(2) }} {{ 2.5 | round }}", "2.5 2.0 2.57 3.0"),
        ("{{ -3 | abs }} {{ [1, 2, 3] | sum }} {{ [3, 1, 2] | max }} {{ [3, 1, 2] | min }}", "3 6 3 1"),
        ("{{ 42 | string ~ '!' }} {{ 'x' | list }} {{ [1, 1, 2, 1] | unique | list }}", "42! ['x'] [1, 2]"),
        ("{{ {'b': 1, 'a': 2} | dictsort }} {{ {'a': 1} | items | list }}", "[['a', 2], ['b', 1]] [['a', 1]]"),
        ("{{ 'line1\\nline2' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}", "line1\n  line2|  a\n  b"),
        ("{{ '<a href=\"x\">&</a>' | e }}", "&lt;a href=&#34;x&#34;&gt;&amp;&lt;/a&gt;"),
        ("{{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('odd') | list }}", "[1, 3] [2, 4]"),
        ("{{ ['a', 'b'] | map('upper') | join }}", "AB"),
    ])
    func filters(source: String, expected: String) throws {
        #expect(try render(source) == expected)
    }

    @Test func attributeFilters() throws {
        let variables: [String: TemplateValue] = [
            "messages": messages([("system", "S"), ("user", "U1"), ("assistant", "A"), ("user", "U2")])
        ]
        #expect(try render("{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}", variables) == "U1,U2")
        #expect(try render("{{ messages | rejectattr('role', 'eq', 'user') | map(attribute='content') | list }}", variables) == "['S', 'A']")
        #expect(try render("{{ messages | map(attribute='role') | unique | join(' ') }}", variables) == "system user assistant")
        #expect(try render("{{ messages | selectattr('missing') | list | length }}", variables) == "0")
    }

    @Test(arguments: [
        ("{{ {'a': 1, 'b': 'x'} | tojson }}", "{\"a\": 1, \"b\": \"x\"}"),
        ("{{ [1, 2.5, true, none, 'q\"\\\\'] | tojson }}", "[1, 2.5, true, null, \"q\\\"\\\\\"]"),
        ("{{ 'line\\nbreak\\ttab\\u0001' | tojson }}", "\"line\\nbreak\\ttab\\u0001\""),
        ("{{ 'héllo <b>' | tojson }}", "\"héllo <b>\""),
        ("{{ {'a': [1, {'b': 2}], 'c': {}} | tojson(indent=2) }}", "{\n  \"a\": [\n    1,\n    {\n      \"b\": 2\n    }\n  ],\n  \"c\": {}\n}"),
        ("{{ [] | tojson }} {{ {} | tojson }}", "[] {}"),
    ])
    func tojson(source: String, expected: String) throws {
        #expect(try render(source) == expected)
    }

    @Test(arguments: [
        ("{{ x is defined }} {{ missing is defined }} {{ missing is undefined }}", "True False True"),
        ("{{ none is none }} {{ x is none }} {{ x is not none }}", "True False True"),
        ("{{ 'a' is string }} {{ 1 is string }} {{ 1 is number }} {{ 1.5 is float }} {{ 1 is integer }}", "True False True True True"),
        ("{{ {} is mapping }} {{ [] is sequence }} {{ 'a' is iterable }} {{ 1 is iterable }}", "True True True False"),
        ("{{ 4 is even }} {{ 3 is odd }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }}", "True True True False"),
        ("{{ 1 is eq 1 }} {{ 2 is gt 1 }} {{ 'b' is in 'abc' }} {{ true is sameas true }}", "True True True True"),
        ("{{ 'abc' is lower }} {{ 'ABC' is upper }} {{ range is callable }} {{ true is boolean }}", "True True True True"),
    ])
    func tests(source: String, expected: String) throws {
        #expect(try render(source, ["x": .integer(1)]) == expected)
    }

    @Test(arguments: [
        ("{{ '  x  '.strip() }}|{{ '  x  '.lstrip() }}|{{ '  x  '.rstrip() }}|{{ '--x--'.strip('-') }}", "x|x  |  x|x"),
        ("{{ 'hello'.startswith('he') }} {{ 'hello'.endswith('lo') }} {{ 'hello'.startswith(('x', 'h')) }}", "True True True"),
        ("{{ 'a b  c'.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }}", "['a', 'b', 'c'] ['a', 'b', '', 'c'] ['a', 'b,c']"),
        ("{{ 'hi'.upper() }} {{ 'HI'.lower() }} {{ 'hello world'.title() }} {{ 'they\\'re'.title() }}", "HI hi Hello World They'Re"),
        ("{{ 'aXa'.replace('a', 'b') }} {{ 'abc'.find('c') }} {{ 'abc'.find('z') }} {{ 'banana'.count('an') }}", "bXb 2 -1 2"),
        ("{{ ', '.join(['a', 'b']) }} {{ 'a\\nb\\n'.splitlines() }}", "a, b ['a', 'b']"),
        ("{{ {'a': 1}.get('a') }} {{ {'a': 1}.get('b') }} {{ {'a': 1}.get('b', 2) }}", "1 None 2"),
        ("{{ {'a': 1, 'b': 2}.keys() | list }} {{ {'a': 1, 'b': 2}.values() | list }}", "['a', 'b'] [1, 2]"),
    ])
    func methods(source: String, expected: String) throws {
        #expect(try render(source) == expected)
    }

    @Test func rangeFunction() throws {
        #expect(try render("{{ range(3) | list }} {{ range(1, 4) | list }} {{ range(10, 0, -3) | list }}") == "[0, 1, 2] [1, 2, 3] [10, 7, 4, 1]")
    }
}

@Suite("ChatTemplate errors")
struct ChatTemplateErrorTests {
    @Test func raiseExceptionCarriesMessageAndPosition() throws {
        let error = try #require(renderError("line one\n{{ raise_exception('Roles must alternate') }}"))
        #expect(error.kind == .raised)
        #expect(error.message == "Roles must alternate")
        #expect(error.line == 2)
        #expect(error.column == 4)
        #expect(error.description == "chat template raised an exception at line 2, column 4: Roles must alternate")
    }

    @Test(arguments: [
        ("{{ x ", "tag is never closed with '}}'", 1, 1),
        ("{% if true %}x", "unexpected end of template: expected '{% elif %}' or '{% else %}' or '{% endif %}'", 1, 15),
        ("{% endfor %}", "unexpected '{% endfor %}' without a matching opening tag", 1, 4),
        ("{% while x %}{% endwhile %}", "unknown or unsupported tag 'while'", 1, 4),
        ("{{ x | nosuchfilter }}", "unknown filter 'nosuchfilter'", 1, 6),
        ("{{ x is nosuchtest }}", "unknown test 'nosuchtest'", 1, 6),
        ("{{ 'unclosed }}", "string literal is never closed", 1, 4),
        ("{# comment", "comment '{#' is never closed with '#}'", 1, 1),
        ("{{ 1 + }}", "expected an expression, found '}}'", 1, 8),
        ("{{ x y }}", "expected '}}', found 'y'", 1, 6),
        ("{% for x in %}{% endfor %}", "expected an expression, found '%}'", 1, 13),
        ("{% break %}", "'{% break %}' outside a for loop", 1, 4),
        ("{{ 99999999999999999999 }}", "integer literal 99999999999999999999 does not fit in 64 bits", 1, 4),
        ("\n\n  {{ @ }}", "unexpected character '@' in tag", 3, 6),
    ])
    func syntaxErrors(source: String, message: String, line: Int, column: Int) throws {
        let error = try #require(renderError(source))
        #expect(error.kind == .syntax)
        #expect(error.message == message)
        #expect(error.line == line)
        #expect(error.column == column)
    }

    @Test(arguments: [
        ("{{ no_such_function() }}", ChatTemplateError.Kind.undefined, "'no_such_function' is undefined and cannot be called"),
        ("{{ missing.attribute }}", .undefined, "'missing' is undefined, so it has no attribute 'attribute'"),
        ("{{ missing['key'] }}", .undefined, "'missing' is undefined, so it cannot be indexed"),
        ("{{ missing + 1 }}", .undefined, "'missing' is undefined"),
        ("{{ 1 + 'a' }}", .invalidOperation, "unsupported operand types for +: 'int' and 'str'"),
        ("{{ 1 < 'a' }}", .invalidOperation, "'<' is not supported between 'int' and 'str'"),
        ("{{ 1 // 0 }}", .invalidOperation, "integer division or modulo by zero"),
        ("{{ 1 / 0 }}", .invalidOperation, "float division by zero"),
        ("{{ 9223372036854775807 + 1 }}", .invalidOperation, "integer overflow: the result does not fit in 64 bits"),
        ("{{ 2 ** 64 }}", .invalidOperation, "integer overflow: the result does not fit in 64 bits"),
        ("{{ 'x'(1) }}", .invalidOperation, "a 'str' value is not callable: 'x'"),
        ("{% set s = 'x' %}{% set s.a = 1 %}", .invalidOperation, "cannot set attribute 'a' of 's': only namespace() objects accept attribute assignment"),
        ("{% set a, b = [1] %}", .invalidOperation, "cannot unpack 1 values into 2 variables"),
        ("{% for x in 5 %}{% endfor %}", .invalidOperation, "'int' object is not iterable"),
        ("{{ [1][1:2:0] }}", .invalidOperation, "slice step cannot be zero"),
        ("{{ missing | tojson }}", .undefined, "'missing' is undefined and cannot be converted to JSON"),
        ("{{ 5 | length }}", .invalidOperation, "object of type 'int' has no length"),
        ("{{ '%s' % 1 }}", .invalidOperation, "string formatting with '%' is not supported; use '~' or '+'"),
    ])
    func renderErrors(source: String, kind: ChatTemplateError.Kind, message: String) throws {
        let error = try #require(renderError(source))
        #expect(error.kind == kind)
        #expect(error.message == message)
        #expect(error.line == 1)
        #expect(error.column != nil)
    }

    @Test func limitsStopRunawayTemplates() throws {
        let longRange = try #require(renderError("{% for i in range(2000000) %}{% endfor %}"))
        #expect(longRange.kind == .limitExceeded)

        let nested = try #require(renderError("{% for i in range(2000) %}{% for j in range(2000) %}{% endfor %}{% endfor %}"))
        #expect(nested.kind == .limitExceeded)

        let recursion = try #require(renderError("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"))
        #expect(recursion.kind == .limitExceeded)

        let bigOutput = try #require(renderError("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}"))
        #expect(bigOutput.kind == .limitExceeded)

        let bigString = try #require(renderError("{{ 'x' * 100000000000 }}"))
        #expect(bigString.kind == .limitExceeded)

        let doubling = "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
        #expect(renderError(doubling)?.kind == .limitExceeded)

        let listDoubling = "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}"
        #expect(renderError(listDoubling)?.kind == .limitExceeded)

        #expect(renderError("{{ ('x' * 5000000).replace('x', 'yyyy') }}")?.kind == .limitExceeded)
        #expect(renderError("{{ ('x' * 5000000) | replace('', 'yyyy') }}")?.kind == .limitExceeded)
        #expect(try render("{{ 'abc'.replace('', '-') }}") == "-a-b-c-")

        #expect(renderError("{{ 'a\nb' | indent(1000000000) }}")?.kind == .limitExceeded)
        #expect(renderError("{{ [1] | tojson(indent=1000000000) }}")?.kind == .limitExceeded)
    }

    @Test func extremeIntegersDoNotTrap() throws {
        #expect(try render("{{ [1, 2, 3][1::9223372036854775807] }}") == "[2]")
        #expect(try render("{{ [1, 2, 3][-1::-9223372036854775807] }}") == "[3]")
        #expect(try render("{{ range(9223372036854775806, 9223372036854775807, 4611686018427387904) | list }}") == "[9223372036854775806]")
        #expect(try render("{{ range(0, 9223372036854775807, 4611686018427387904) | length }}") == "2")
        #expect(renderError("{{ -9223372036854775807 - 2 }}")?.kind == .invalidOperation)
        #expect(renderError("{{ (-9223372036854775807 - 1) // -1 }}")?.kind == .invalidOperation)
        #expect(renderError("{{ (-9223372036854775807 - 1) | abs }}")?.kind == .invalidOperation)
    }

    @Test func deepNestingFailsWithoutCrashing() throws {
        let parentheses = "{{ " + String(repeating: "(", count: 100_000) + "1" + String(repeating: ")", count: 100_000) + " }}"
        #expect(renderError(parentheses)?.kind == .syntax)

        let lists = "{{ " + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + " }}"
        #expect(renderError(lists)?.kind == .syntax)

        let blocks = String(repeating: "{% if true %}", count: 10_000) + String(repeating: "{% endif %}", count: 10_000)
        #expect(renderError(blocks)?.kind == .syntax)

        let nots = "{{ " + String(repeating: "not ", count: 10_000) + "x }}"
        #expect(renderError(nots)?.kind == .syntax)

        // Moderate nesting still works.
        #expect(try render("{{ " + String(repeating: "(", count: 20) + "1" + String(repeating: ")", count: 20) + " }}") == "1")
    }

    @Test func truncatedTemplatesFailCleanly() throws {
        let source = """
            {% for message in messages %}{% if message['role'] == 'user' %}{{ '<user>' + message['content'] | trim }}\
            {% elif message.role == 'assistant' %}{{ message.content ~ eos_token }}{% endif %}{% endfor %}\
            {% if add_generation_prompt %}{{ '<assistant>' }}{% endif %}
            """
        let scalars = Array(source.unicodeScalars)
        for length in 0..<scalars.count {
            let prefix = String(String.UnicodeScalarView(scalars[..<length]))
            // Any outcome is fine except a crash; most prefixes are syntax errors.
            _ = renderError(prefix, ["messages": messages([("user", "hi")])])
        }
    }
}

@Suite("ChatTemplate with realistic templates")
struct ChatTemplateRealisticTests {
    /// A template in the style of the common chat formats: a system prompt pulled
    /// out of the messages, alternation checks, trimming and a generation prompt.
    static let alternatingTemplate = """
        {{- bos_token }}
        {%- if messages[0]['role'] == 'system' %}
            {%- set system_message = messages[0]['content'] | trim %}
            {%- set loop_messages = messages[1:] %}
        {%- else %}
            {%- set system_message = 'Default system prompt.' %}
            {%- set loop_messages = messages %}
        {%- endif %}
        {{- '[SYS]' + system_message + '[/SYS]\\n' }}
        {%- for message in loop_messages %}
            {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
                {{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}
            {%- endif %}
            {%- if message['role'] == 'user' %}
                {{- '[INST] ' + message['content'] | trim + ' [/INST]' }}
            {%- elif message['role'] == 'assistant' %}
                {{- ' ' + message['content'] | trim + eos_token }}
            {%- endif %}
        {%- endfor %}
        {%- if add_generation_prompt %}{{ ' ' }}{% endif %}
        """

    @Test func rendersAlternatingConversation() throws {
        let template = try ChatTemplate(source: Self.alternatingTemplate)
        let prompt = try template.render(
            messages: [
                ChatMessage(role: "system", content: "  Be kind. "),
                ChatMessage(role: "user", content: "Hi "),
                ChatMessage(role: "assistant", content: "Hello!"),
                ChatMessage(role: "user", content: "Bye"),
            ],
            addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>")
        #expect(prompt == "<s>[SYS]Be kind.[/SYS]\n[INST] Hi [/INST] Hello!</s>[INST] Bye [/INST] ")
    }

    @Test func rejectsNonAlternatingConversation() throws {
        let template = try ChatTemplate(source: Self.alternatingTemplate)
        #expect(throws: ChatTemplateError.self) {
            try template.render(
                messages: [ChatMessage(role: "user", content: "a"), ChatMessage(role: "user", content: "b")],
                addGenerationPrompt: false, bosToken: "", eosToken: "")
        }
        do {
            _ = try template.render(
                messages: [ChatMessage(role: "assistant", content: "a")],
                addGenerationPrompt: false, bosToken: "", eosToken: "")
            Issue.record("expected raise_exception to throw")
        } catch {
            #expect(error.kind == .raised)
            #expect(error.message == "Conversation roles must alternate user/assistant/user/assistant/...")
            #expect(error.line == 12)
        }
    }

    @Test func rendersConcurrently() async throws {
        let template = try ChatTemplate(source: Self.alternatingTemplate)
        let outputs = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<8 {
                group.addTask {
                    try template.render(
                        messages: [ChatMessage(role: "user", content: "message \(index)")],
                        addGenerationPrompt: false, bosToken: "", eosToken: "")
                }
            }
            var results: [String] = []
            for try await output in group {
                results.append(output)
            }
            return results
        }
        #expect(Set(outputs).count == 8)
    }
}
