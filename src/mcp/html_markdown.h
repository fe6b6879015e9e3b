/*
 * html_markdown.h - HTML to Markdown for the fetch tool: a pure function on a byte string.
 *
 * Parses with libxml2's HTML parser (recovering, no network), keeps the main content (the
 * first <main>, else role="main", else the first <article>, else <body>), drops navigation
 * and other page furniture (nav, aside, script, style, noscript, form, svg, iframe, and
 * header/footer outside the main content), and writes headings, paragraphs, links, images,
 * lists, tables, code and pre blocks, blockquotes and emphasis as Markdown with whitespace
 * collapsed. Hostile input (deep nesting, malformed markup, bad bytes) cannot crash it and
 * takes time linear in its size.
 */
#ifndef MCPGW_MCP_HTML_MARKDOWN_H
#define MCPGW_MCP_HTML_MARKDOWN_H

#include <stddef.h>

/* Input beyond this many bytes is ignored (the fetch service caps bodies before this). */
#define HTML_MARKDOWN_MAX_INPUT (16u * 1024u * 1024u)

/* Convert len bytes of HTML. encoding: the charset from Content-Type, or NULL (then UTF-8
 * when the bytes are valid UTF-8, else what the document's <meta> says, else Latin-1).
 * base_url: resolves relative links and images; may be NULL. Returns a NUL-terminated UTF-8
 * string the caller frees (never NULL; "" when there is no content). */
char *html_to_markdown(const char *html, size_t len, const char *encoding, const char *base_url);

#endif
