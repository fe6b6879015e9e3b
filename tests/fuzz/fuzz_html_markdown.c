/*
 * fuzz_html_markdown.c - any bytes through the fetch tool's content path: HTML to Markdown
 * (with and without a declared charset), the content kind, UTF-8 repair, paging, and
 * robots.txt matching with the input as the file. Nothing may crash or leak, and the
 * Markdown and the page must be valid UTF-8 without NUL bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/fetch_content.h"
#include "mcp/fetch_robots.h"
#include "mcp/html_markdown.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort unless s is valid UTF-8 (no overlongs, surrogates or values past U+10FFFF). */
static void check_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (n == 0 || (n == 2 && c < 0xC2) || (n == 4 && c > 0xF4))
            abort();
        for (size_t k = 1; k < n; k++)
            if ((p[k] & 0xC0) != 0x80)
                abort();
        if (n == 3 && ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0)))
            abort();
        if (n == 4 && ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90)))
            abort();
        p += n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024)
        return 0;
    const char *text = (const char *)data;
    char *md = html_to_markdown(text, size, NULL, "https://example.com/a/b");
    check_utf8(md);
    char *page = fetch_page("", "https://example.com/", md, size % 7, 1 + size % 50);
    check_utf8(page);
    free(page);
    free(md);
    md = html_to_markdown(text, size, "windows-1252", NULL);
    check_utf8(md);
    free(md);
    (void)fetch_classify("text/html", text, size);
    char *repaired = fetch_utf8_text(text, size);
    check_utf8(repaired);
    free(repaired);
    repaired = fetch_text_from_charset(text, size, size % 2 ? "windows-1252" : "UTF-16");
    check_utf8(repaired);
    free(repaired);
    (void)robots_allows(text, size, "ModelContextProtocol/1.0 (Autonomous)", "/a/b.pdf?x=1");
    return 0;
}
