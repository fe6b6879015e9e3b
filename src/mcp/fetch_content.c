/*
 * fetch_content.c - content kinds, UTF-8 and paging for the fetch tool (see fetch_content.h).
 */
#include "mcp/fetch_content.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/buf.h"

static bool contains_nocase(const char *haystack, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (strncasecmp(haystack + i, needle, n) == 0)
            return true;
    return false;
}

/* The media type alone, lower-cased ("text/html"), in out (size bytes). */
static void media_type(const char *content_type, char *out, size_t size)
{
    size_t n = 0;
    const char *p = content_type ? content_type : "";
    while (*p == ' ' || *p == '\t')
        p++;
    for (; *p && *p != ';' && *p != ' ' && n + 1 < size; p++)
        out[n++] = (char)tolower((unsigned char)*p);
    out[n] = '\0';
}

enum fetch_kind fetch_classify(const char *content_type, const char *body, size_t len)
{
    char type[128];
    media_type(content_type, type, sizeof(type));
    bool has_nul = memchr(body ? body : "", '\0', body ? len : 0) != NULL;
    if (strcmp(type, "text/html") == 0 || strcmp(type, "application/xhtml+xml") == 0)
        return has_nul ? FETCH_KIND_BINARY : FETCH_KIND_HTML;
    if (type[0] == '\0') {
        if (has_nul)
            return FETCH_KIND_BINARY;
        return contains_nocase(body ? body : "", len < 100 ? len : 100, "<html") ? FETCH_KIND_HTML
                                                                                 : FETCH_KIND_TEXT;
    }
    if (has_nul)
        return FETCH_KIND_BINARY;
    if (strstr(type, "json"))
        return FETCH_KIND_JSON;
    static const char *const textual[] = {
        "xml",      "javascript", "ecmascript", "yaml", "toml", "csv", "x-www-form-urlencoded",
        "markdown", "x-sh",       "sql",        NULL};
    if (strncmp(type, "text/", 5) == 0)
        return FETCH_KIND_TEXT;
    for (size_t i = 0; textual[i]; i++)
        if (strstr(type, textual[i]))
            return FETCH_KIND_TEXT;
    return FETCH_KIND_BINARY;
}

char *fetch_content_charset(const char *content_type)
{
    if (!content_type)
        return NULL;
    for (const char *p = content_type; *p; p++) {
        if (strncasecmp(p, "charset=", 8) != 0)
            continue;
        p += 8;
        if (*p == '"')
            p++;
        size_t n = 0;
        while (p[n] &&
               (isalnum((unsigned char)p[n]) || p[n] == '-' || p[n] == '_' || p[n] == '.' || p[n] == ':'))
            n++;
        return n ? gw_strndup(p, n) : NULL;
    }
    return NULL;
}

/* Length of the valid UTF-8 sequence at s (at most len bytes), or 0 when invalid. */
static size_t utf8_sequence(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || n > len || (n == 2 && c < 0xC2) || (n == 4 && c > 0xF4))
        return 0;
    for (size_t k = 1; k < n; k++)
        if ((s[k] & 0xC0) != 0x80)
            return 0;
    if (n == 3 && ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0)))
        return 0;
    if (n == 4 && ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90)))
        return 0;
    return n;
}

char *fetch_utf8_text(const char *body, size_t len)
{
    struct buf out;
    buf_init(&out, SIZE_MAX);
    const unsigned char *s = (const unsigned char *)(body ? body : "");
    size_t i = 0;
    while (i < len) {
        if (s[i] == 0) {
            i++;
            continue;
        }
        size_t n = utf8_sequence(s + i, len - i);
        if (n == 0) {
            buf_append_str(&out, "\xEF\xBF\xBD");
            i++;
            continue;
        }
        size_t run = i + n;
        while (run < len && s[run] && s[run] < 0x80) /* copy ASCII runs in one go */
            run++;
        buf_append(&out, s + i, run - i);
        i = run;
    }
    char *text = buf_take(&out);
    return text ? text : gw_strdup("");
}

char *fetch_text_from_charset(const char *body, size_t len, const char *charset)
{
    if (!charset || strcasecmp(charset, "utf-8") == 0 || strcasecmp(charset, "utf8") == 0 ||
        strcasecmp(charset, "us-ascii") == 0)
        return fetch_utf8_text(body, len);
    iconv_t cd = iconv_open("UTF-8", charset);
    if (cd == (iconv_t)-1)
        return fetch_utf8_text(body, len);
    struct buf out;
    buf_init(&out, SIZE_MAX);
    char *in = (char *)(body ? body : "");
    size_t in_left = len;
    char chunk[4096];
    while (in_left > 0) {
        char *o = chunk;
        size_t o_left = sizeof(chunk);
        size_t rc = iconv(cd, &in, &in_left, &o, &o_left);
        buf_append(&out, chunk, sizeof(chunk) - o_left);
        if (rc == (size_t)-1 && errno != E2BIG) { /* a bad or truncated sequence: skip a byte */
            buf_append_str(&out, "\xEF\xBF\xBD");
            in++;
            in_left--;
        }
    }
    iconv_close(cd);
    /* Once more through the UTF-8 repair: drops NULs and guards against odd converters. */
    char *text = fetch_utf8_text(out.data ? out.data : "", out.len);
    buf_free(&out);
    return text;
}

/* Byte offset of the code point number index in s (or strlen(s) when s is shorter). */
static size_t offset_of_char(const char *s, size_t from, size_t count, size_t *counted)
{
    size_t i = from, n = 0;
    while (s[i] && n < count) {
        i++;
        while (((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
        n++;
    }
    *counted = n;
    return i;
}

char *fetch_page(const char *prefix, const char *url, const char *content, size_t start_index,
                 size_t max_length)
{
    struct buf out;
    buf_init(&out, SIZE_MAX);
    buf_printf(&out, "%sContents of %s:\n", prefix ? prefix : "", url);
    size_t skipped = 0, taken = 0;
    size_t start = offset_of_char(content, 0, start_index, &skipped);
    size_t end = offset_of_char(content, start, max_length, &taken);
    if (skipped < start_index || taken == 0) {
        buf_append_str(&out, "<error>No more content available.</error>");
    } else {
        buf_append(&out, content + start, end - start);
        if (taken == max_length && content[end])
            buf_printf(&out,
                       "\n\n<error>Content truncated. Call the fetch tool with a start_index of %zu to get "
                       "more content.</error>",
                       start_index + taken);
    }
    return buf_take(&out);
}
