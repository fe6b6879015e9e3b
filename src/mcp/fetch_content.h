/*
 * fetch_content.h - what the fetch tool makes of a response body: pure functions (the kind
 * of content, text from bytes, paging by characters), so they are testable without a network.
 */
#ifndef MCPGW_MCP_FETCH_CONTENT_H
#define MCPGW_MCP_FETCH_CONTENT_H

#include <stdbool.h>
#include <stddef.h>

enum fetch_kind {
    FETCH_KIND_HTML,
    FETCH_KIND_JSON,
    FETCH_KIND_TEXT,
    FETCH_KIND_BINARY,
};

/* The kind of a body from its Content-Type (may be NULL or "") and its first bytes: HTML for
 * text/html and XHTML (or no type and "<html" in the first 100 bytes), JSON for any "json"
 * type, text for text/ *, XML, JavaScript, YAML, CSV and similar, and for untyped bodies
 * without NUL bytes; binary for the rest and for bodies with NUL bytes. */
enum fetch_kind fetch_classify(const char *content_type, const char *body, size_t len);

/* The charset parameter of a Content-Type ("utf-8"), or NULL. Caller frees. */
char *fetch_content_charset(const char *content_type);

/* body as valid UTF-8 (invalid sequences become U+FFFD; NUL bytes are dropped). Caller frees. */
char *fetch_utf8_text(const char *body, size_t len);

/* body decoded from charset (a Content-Type charset such as "iso-8859-1"; NULL or a UTF-8
 * alias means UTF-8) into valid UTF-8, as fetch_utf8_text does for UTF-8. An unknown charset
 * is read as UTF-8. Caller frees. */
char *fetch_text_from_charset(const char *body, size_t len, const char *charset);

/* The page the tool returns: "<prefix>Contents of <url>:\n" and the characters (code points)
 * of content from start_index, at most max_length of them, with the reference server's
 * truncation hint naming the next start_index, or "<error>No more content available.</error>"
 * past the end. content must be valid UTF-8. Caller frees. */
char *fetch_page(const char *prefix, const char *url, const char *content, size_t start_index,
                 size_t max_length);

#endif
