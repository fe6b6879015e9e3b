/*
 * pages.c - HTML for the browser flow. Pages carry no script: the CSP says default-src 'none',
 * so even a value that escaped escaping could not run.
 */
#include "pages.h"

#include <string.h>

#include "core/alloc.h"

enum gw_err html_escape_n(struct buf *out, const char *s, size_t len)
{
    if (!s)
        return GW_OK;
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        case '\0':
            rep = "&#65533;";
            break;
        default:
            break;
        }
        if (!rep)
            continue;
        if (buf_append(out, s + start, i - start) != GW_OK || buf_append_str(out, rep) != GW_OK)
            return GW_ERR_TOO_LARGE;
        start = i + 1;
    }
    return buf_append(out, s + start, len - start);
}

enum gw_err html_escape(struct buf *out, const char *s)
{
    return s ? html_escape_n(out, s, strlen(s)) : GW_OK;
}

void pages_security_headers(struct http_exchange *ex)
{
    http_response_header(ex, "X-Frame-Options", "DENY");
    /* No form-action: Chrome applies it to the redirect that follows a form POST, which would
     * block the redirect back to the client's (foreign) redirect URI. */
    http_response_header(
        ex, "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'");
    http_response_header(ex, "X-Content-Type-Options", "nosniff");
    http_response_header(ex, "Cache-Control", "no-store");
    http_response_header(ex, "Pragma", "no-cache");
    http_response_header(ex, "Referrer-Policy", "no-referrer");
}

static const char style[] =
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#222}"
    "h1{font-size:1.4rem}.box{border:1px solid #ccc;border-radius:8px;padding:1rem 1.2rem}"
    "button{font-size:1rem;padding:.5rem 1.2rem;margin:.3rem .3rem 0 0}code{background:#f3f3f3}"
    "label{display:block;margin:.5rem 0}input[type=text],input[type=password]{width:100%;padding:.4rem}";

void page_respond(struct http_exchange *ex, int status, const char *title, const char *body_html)
{
    struct buf page;
    buf_init(&page, 256 * 1024);
    (void)buf_append_str(&page, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                                "<meta name=\"viewport\" content=\"width=device-width\"><title>");
    (void)html_escape(&page, title);
    (void)buf_printf(&page, "</title><style>%s</style></head><body><h1>", style);
    (void)html_escape(&page, title);
    (void)buf_append_str(&page, "</h1>\n");
    (void)buf_append_str(&page, body_html ? body_html : "");
    (void)buf_append_str(&page, "\n</body></html>\n");
    pages_security_headers(ex);
    http_respond(ex, status, "text/html; charset=utf-8", page.data ? page.data : "", page.len);
    buf_free(&page);
}

void page_error(struct http_exchange *ex, int status, const char *title, const char *message)
{
    struct buf body;
    buf_init(&body, 64 * 1024);
    (void)buf_append_str(&body, "<div class=\"box\"><p>");
    (void)html_escape(&body, message);
    (void)buf_append_str(&body, "</p></div>");
    page_respond(ex, status, title, buf_cstr(&body));
    buf_free(&body);
}

void page_redirect(struct http_exchange *ex, const char *location)
{
    pages_security_headers(ex);
    http_response_header(ex, "Location", location);
    http_respond(ex, 302, NULL, NULL, 0);
}
