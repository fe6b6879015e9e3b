/*
 * test_html_markdown.c - the fetch tool's HTML to Markdown converter: structure kept, page
 * furniture dropped, main content chosen, hostile and malformed input survived.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/html_markdown.h"

static char *convert(const char *html)
{
    return html_to_markdown(html, strlen(html), NULL, "https://example.com/dir/page.html");
}

static void assert_contains(const char *text, const char *needle)
{
    if (!strstr(text, needle))
        fprintf(stderr, "missing \"%s\" in:\n%s\n", needle, text);
    assert_non_null(strstr(text, needle));
}

static void assert_lacks(const char *text, const char *needle)
{
    if (strstr(text, needle))
        fprintf(stderr, "unexpected \"%s\" in:\n%s\n", needle, text);
    assert_null(strstr(text, needle));
}

static void test_structure_kept(void **state)
{
    (void)state;
    char *md = convert("<html><body><h1>Title</h1><h3>Sub</h3><p>One <strong>bold</strong> and <em>em</em> "
                       "and <a href='/x?a=1'>a link</a> and <a href='rel.html'>rel</a>.</p>"
                       "<ul><li>apple</li><li>pear<ol><li>inner</li></ol></li></ul>"
                       "<ol start='3'><li>three</li><li>four</li></ol>"
                       "<pre><code class='language-python'>def f():\n    return 1\n</code></pre>"
                       "<blockquote><p>wise</p><p>words</p></blockquote>"
                       "<table><thead><tr><th>Name</th><th>Qty</th></tr></thead>"
                       "<tbody><tr><td>a|b</td><td>2</td></tr></tbody></table>"
                       "<p>inline <code>x &lt; y</code> <del>gone</del><br>next line</p><hr><img src='i.png' "
                       "alt='pic'></body></html>");
    assert_contains(md, "# Title\n\n### Sub");
    assert_contains(md, "One **bold** and *em* and [a link](https://example.com/x?a=1) and "
                        "[rel](https://example.com/dir/rel.html).");
    assert_contains(md, "- apple\n- pear\n  1. inner");
    assert_contains(md, "3. three\n4. four");
    assert_contains(md, "```python\ndef f():\n    return 1\n```");
    assert_contains(md, "> wise\n>\n> words");
    assert_contains(md, "| Name | Qty |\n| --- | --- |\n| a\\|b | 2 |");
    assert_contains(md, "inline `x < y` ~~gone~~\nnext line");
    assert_contains(md, "---");
    assert_contains(md, "![pic](https://example.com/dir/i.png)");
    free(md);
}

static void test_junk_dropped(void **state)
{
    (void)state;
    char *md = convert("<html><head><title>T</title><style>.a{color:red}</style>"
                       "<script>var secret = 1;</script></head><body>"
                       "<header>SITE BANNER</header><nav><a href='/'>NAVLINK</a></nav>"
                       "<aside>SIDEBAR</aside><p>Body text</p><noscript>NOSCRIPT</noscript>"
                       "<form><input value='FORMVALUE'><button>BUTTON</button></form>"
                       "<svg><text>SVGTEXT</text></svg><div hidden>HIDDEN</div>"
                       "<div role='navigation'>ROLE NAV</div><footer>FOOTER</footer></body></html>");
    assert_contains(md, "Body text");
    const char *junk[] = {"color:red", "secret", "SITE BANNER", "NAVLINK", "SIDEBAR",  "NOSCRIPT",
                          "FORMVALUE", "BUTTON", "SVGTEXT",     "HIDDEN",  "ROLE NAV", "FOOTER"};
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
        assert_lacks(md, junk[i]);
    free(md);
}

static void test_furniture_classes_without_main(void **state)
{
    (void)state;
    char *md =
        convert("<body><div class='top navbar'>NAVBAR</div><div id='sidebar'>SIDE</div>"
                "<div class='cookie-banner'>COOKIES</div><div class='entry-header'><h1>Kept title</h1></div>"
                "<div class='content'><p>Body</p></div></body>");
    assert_contains(md, "# Kept title\n\nBody");
    assert_lacks(md, "NAVBAR");
    assert_lacks(md, "SIDE");
    assert_lacks(md, "COOKIES");
    free(md);
    /* Inside the chosen main content the classes are the author's business: kept. */
    md = convert("<main><div class='menu'>Today's menu: soup</div></main>");
    assert_string_equal(md, "Today's menu: soup");
    free(md);
}

static void test_main_content_preferred(void **state)
{
    (void)state;
    char *md = convert("<body><div>OUTSIDE</div><main><header><h1>Main title</h1></header><p>inside</p>"
                       "<nav>in-main nav</nav></main><div>AFTER</div></body>");
    assert_contains(md, "# Main title");
    assert_contains(md, "inside");
    assert_lacks(md, "OUTSIDE");
    assert_lacks(md, "AFTER");
    assert_lacks(md, "in-main nav");
    free(md);
    md = convert("<body><p>teaser</p><article><h2>Story</h2><p>text</p></article></body>");
    assert_contains(md, "## Story\n\ntext");
    assert_lacks(md, "teaser");
    free(md);
}

static void test_whitespace_collapsed(void **state)
{
    (void)state;
    char *md = convert("<body><p>  many \n\n\t spaces   here </p>\n\n\n<p></p><div><div></div></div><p>x</p>"
                       "<h2>   </h2><a href='/empty'></a><b> </b></body>");
    assert_string_equal(md, "many spaces here\n\nx");
    free(md);
}

static void test_entities_and_utf8(void **state)
{
    (void)state;
    char *md = convert("<p>caf&eacute; &amp; cr&egrave;me &#8212; &#x1F600; &lt;tag&gt; &nbsp;x "
                       "日本語 Ελληνικά</p>");
    assert_contains(md, "café & crème — \xF0\x9F\x98\x80 <tag>");
    assert_contains(md, "日本語 Ελληνικά");
    free(md);
    /* Latin-1 bytes declared as such. */
    const char latin1[] = "<p>caf\xE9</p>";
    md = html_to_markdown(latin1, strlen(latin1), "iso-8859-1", NULL);
    assert_string_equal(md, "café");
    free(md);
    /* Invalid UTF-8 without a charset still yields valid UTF-8 output. */
    const char bad[] = "<p>a\xFF\xFE b</p>";
    md = html_to_markdown(bad, strlen(bad), NULL, NULL);
    assert_non_null(strchr(md, 'a'));
    for (const unsigned char *p = (const unsigned char *)md; *p; p++)
        assert_true(*p != 0xFF && *p != 0xFE);
    free(md);
}

static void test_malformed(void **state)
{
    (void)state;
    const char *inputs[] = {
        "<p>unclosed <b>bold <i>both</p> tail",
        "<table><tr><td>cell<td>cell2<tr><td>row2",
        "<ul><li>one<li>two</ul></ul></ul>",
        "</div></p></html>text after closers",
        "<a href='javascript:alert(1)'>js link</a>",
        "<<<>>><p x='unterminated>text",
        "<!-- unterminated comment",
        "<![CDATA[ cdata ]]>",
        "",
        "<pre>",
        "<blockquote><blockquote><ol><li><table><tr><td><pre>x</pre></td></tr></table></li></ol></"
        "blockquote>",
    };
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        char *md = convert(inputs[i]);
        assert_non_null(md);
        free(md);
    }
    char *md = convert("<p>unclosed <b>bold <i>both</p> tail");
    assert_contains(md, "unclosed");
    assert_contains(md, "tail");
    free(md);
    md = convert("<a href='javascript:alert(1)'>js link</a>");
    assert_string_equal(md, "js link");
    free(md);
    md = html_to_markdown(NULL, 0, NULL, NULL);
    assert_string_equal(md, "");
    free(md);
}

/* 100 000 nested elements: must finish (no stack overflow, no quadratic blow-up) and keep the
 * text before the nesting. The parser gives up deep inside; what matters is that we return. */
static void test_hostile_nesting(void **state)
{
    (void)state;
    const char *tags[] = {"div", "b", "blockquote", "ul", "table"};
    for (size_t t = 0; t < sizeof(tags) / sizeof(tags[0]); t++) {
        size_t n = 100000, tl = strlen(tags[t]);
        size_t size = 64 + n * (2 * tl + 5);
        char *html = malloc(size);
        size_t len = (size_t)snprintf(html, size, "<body><p>before</p>");
        for (size_t i = 0; i < n; i++)
            len += (size_t)snprintf(html + len, size - len, "<%s>", tags[t]);
        len += (size_t)snprintf(html + len, size - len, "deep");
        for (size_t i = 0; i < n; i++)
            len += (size_t)snprintf(html + len, size - len, "</%s>", tags[t]);
        char *md = html_to_markdown(html, len, NULL, NULL);
        assert_contains(md, "before");
        free(md);
        free(html);
    }
    /* Nesting below the recursion cap but deep enough to use the flat walk. */
    char html[8192];
    size_t len = 0;
    for (int i = 0; i < 240; i++)
        len += (size_t)snprintf(html + len, sizeof(html) - len, "<div>");
    len += (size_t)snprintf(html + len, sizeof(html) - len, "deep text<script>no</script>");
    char *md = html_to_markdown(html, len, NULL, NULL);
    assert_string_equal(md, "deep text");
    free(md);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_structure_kept),
        cmocka_unit_test(test_junk_dropped),
        cmocka_unit_test(test_main_content_preferred),
        cmocka_unit_test(test_furniture_classes_without_main),
        cmocka_unit_test(test_whitespace_collapsed),
        cmocka_unit_test(test_entities_and_utf8),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_hostile_nesting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
