/*
 * oauth_flow_parse.h - the pure parsers behind `mcpgw test-oauth-flow`: what the built-in test
 * client reads from the network (a WWW-Authenticate challenge, the authorization server's HTML
 * forms and error pages, MCP answers as JSON or SSE). No I/O; fuzzed by tests/fuzz/fuzz_oauth_flow.c.
 *
 * Every function takes (pointer, length) input that need not be NUL-terminated and returns new
 * memory the caller owns (free() for strings, json_decref() for JSON), or NULL when the thing
 * looked for is not there or the input is malformed.
 */
#ifndef MCPGW_OPS_OAUTH_FLOW_PARSE_H
#define MCPGW_OPS_OAUTH_FLOW_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* The value of auth-param `name` (case-insensitive) of the Bearer challenge in a
 * WWW-Authenticate value (RFC 9110 §11.6.1: challenges separated by commas, params as
 * token=token or token="quoted-string"); RFC 9728 §5.1 puts "resource_metadata" there.
 * Caller frees; NULL when there is no Bearer challenge or no such parameter. */
char *flow_challenge_param(const char *header, size_t len, const char *name);

/* One HTML form control: the first element (<input> or <button>) whose name attribute equals
 * name and, when value is not NULL, whose value attribute equals value. Attribute values are
 * returned with character references decoded (&amp; &lt; &gt; &quot; &#39; &#NN; &#xNN;). */
bool flow_html_has_control(const char *html, size_t len, const char *name, const char *value);
/* The decoded value attribute of the first such element with that name; caller frees. */
char *flow_html_control_value(const char *html, size_t len, const char *name);
/* The action attribute of the first <form> (decoded); caller frees. */
char *flow_html_form_action(const char *html, size_t len);

/* A one-line summary of an HTML page for an error message: "TITLE: first paragraph or alert",
 * tags stripped, references decoded, whitespace collapsed, at most 300 bytes. Caller frees;
 * NULL when the page has no title and no text paragraph. */
char *flow_html_summary(const char *html, size_t len);

/* The JSON-RPC message whose "id" is the integer id from an MCP Streamable HTTP answer: a JSON
 * object (or batch array) body when content_type is application/json, or the "data:" lines of
 * the SSE events when it is text/event-stream (events are separated by blank lines; several
 * data lines of one event are joined with "\n"). Caller json_decref()s; NULL when absent. */
json_t *flow_jsonrpc_answer(const char *content_type, const char *body, size_t len, long long id);

#endif
