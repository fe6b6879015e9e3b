/*
 * oauth_flow_internal.h - what the parts of `mcpgw test-oauth-flow` share (src/ops only):
 * a small blocking HTTP session (libcurl easy, cookies kept, redirects not followed), the
 * loopback listener that receives the authorization response, and the login walk.
 *
 * oauth_flow.c        the command: options, the steps, their output
 * oauth_flow_http.c   struct flow_http, URL helpers, struct flow_listener
 * oauth_flow_login.c  flow_login_run: consent and login as a browser would, or a person does it
 * oauth_flow_parse.c  the pure parsers (fuzzed)
 */
#ifndef MCPGW_OPS_OAUTH_FLOW_INTERNAL_H
#define MCPGW_OPS_OAUTH_FLOW_INTERNAL_H

#include <stdbool.h>

#include "core/buf.h"
#include "core/err.h"

/* Largest response body kept (pages, metadata, MCP answers). */
#define FLOW_MAX_BODY (4 * 1024 * 1024)

/* One HTTP session: a curl easy handle with its cookie engine on (the authorization server's
 * session cookie binds consent and login to this "browser"), connections reused. */
struct flow_http {
    void *curl; /* CURL * */
    long timeout_ms;
};

struct flow_request {
    const char *method;       /* "GET" when NULL */
    const char *url;          /* absolute */
    const char *content_type; /* of body; NULL without a body */
    const char *body;         /* NUL-terminated; NULL for none */
    const char *bearer;       /* access token for Authorization: Bearer; NULL for none */
    const char *accept;       /* Accept header; NULL for curl's default */
    const char *const *extra; /* NULL-terminated "Name: value" lines; may be NULL */
};

struct flow_response {
    long status;            /* 0 when no answer arrived */
    struct buf body;        /* capped at FLOW_MAX_BODY */
    char *location;         /* the Location header, as sent; NULL when absent */
    char *content_type;     /* NULL when absent */
    char *www_authenticate; /* NULL when absent */
    char *session_id;       /* Mcp-Session-Id; NULL when absent */
    char *protocol_version; /* MCP-Protocol-Version; NULL when absent */
    char error[256];        /* transport error ("" when an answer arrived) */
};

/* Set up the session. ca_file (may be NULL: the system's CAs) is copied. GW_ERR_IO when curl
 * cannot be initialised. */
enum gw_err flow_http_init(struct flow_http *h, long timeout_ms, const char *ca_file);
void flow_http_cleanup(struct flow_http *h);
/* Send req and read the whole answer into *out (which the caller releases with
 * flow_response_free, also on failure). Returns false when no HTTP answer arrived (out->error
 * says why: "connection refused", "timed out after 15000 ms", ...). Redirects are not followed. */
bool flow_http_do(struct flow_http *h, const struct flow_request *req, struct flow_response *out);
void flow_response_free(struct flow_response *r);

/* ref resolved against base (RFC 3986 §5), as a new string; NULL when either is not a URL. */
char *flow_url_resolve(const char *base, const char *ref);
/* true when both URLs have the same scheme, host and port. */
bool flow_same_origin(const char *a, const char *b);
/* The value of query parameter name in url (decoded), as a new string; NULL when absent. */
char *flow_url_query_param(const char *url, const char *name);
/* "scheme://host[:port]" of url, as a new string; NULL when url is not a URL. */
char *flow_url_origin(const char *url);

/* The loopback listener the registered redirect URI points at (RFC 8252 §7.3). */
struct flow_listener {
    int fd;
    int port;
};

/* Listen on 127.0.0.1:port (0: a free port the kernel picks). GW_ERR_IO with errno set. */
enum gw_err flow_listener_open(struct flow_listener *l, int port);
void flow_listener_close(struct flow_listener *l);
/* Wait up to timeout_s seconds for the browser to arrive at path (e.g. "/callback"); answers
 * it with a short page and returns the full request target ("/callback?code=..."), a new
 * string. Other paths get a 404 and waiting goes on. NULL on timeout or error (why appended). */
char *flow_listener_wait(struct flow_listener *l, const char *path, int timeout_s, struct buf *why);

/* ---- the login walk ---- */

struct flow_login {
    const char *authorize_url; /* the complete authorization request (what a person opens) */
    const char
        *start_url; /* where the walk starts (the authorization request's redirect); NULL: authorize_url */
    const char *redirect_uri; /* registered loopback URI; the walk ends when it is reached */
    const char *user;         /* local user name, or NULL */
    const char *password;     /* its password, or NULL */
    bool allow_browser;       /* may fall back to a person with a browser */
    bool browser_first;       /* go straight to the person (--browser) */
    bool open_browser;        /* run xdg-open on the URL (--open) */
    int timeout_s;            /* how long to wait for the person */
    struct flow_listener *listener;
};

/* Obtain the authorization response: walk consent and login pages as a browser would (a local
 * user with user/password, or an identity provider that redirects straight back, like the test
 * fake of GitHub), or, when the provider needs a person (the real GitHub's login page), print
 * the URL and wait for the redirect on the listener. Returns the URL the authorization server
 * redirected to (redirect_uri?code=...&state=...&iss=..., or ?error=...), a new string; how
 * gets a short description ("local user alice", "GitHub at URL", "in a browser"). NULL on
 * failure, with the reason appended to why. */
char *flow_login_run(struct flow_http *h, const struct flow_login *in, struct buf *how, struct buf *why);

#endif
