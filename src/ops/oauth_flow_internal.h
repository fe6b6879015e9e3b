/*
 * oauth_flow_internal.h - what the parts of `mcpgw test-oauth-flow` share (src/ops only):
 * a small blocking HTTP session (libcurl easy, cookies kept, redirects not followed), the
 * loopback listener that receives the authorization response, and the login walk.
 *
 * oauth_flow.c        the command: options, password, service, the run of the steps
 * oauth_flow_steps.c  output and request helpers; the OAuth steps (discovery to refresh)
 * oauth_flow_mcp.c    the MCP steps, revocation and clean-up
 * oauth_flow_http.c   struct flow_http, URL helpers, struct flow_listener
 * oauth_flow_login.c  flow_login_run: consent and login as a browser would, or a person does it
 * oauth_flow_parse.c  the pure parsers (fuzzed)
 */
#ifndef MCPGW_OPS_OAUTH_FLOW_INTERNAL_H
#define MCPGW_OPS_OAUTH_FLOW_INTERNAL_H

#include <stdbool.h>

#include <jansson.h>

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

/* ---- the run and its steps (oauth_flow_steps.c, oauth_flow_mcp.c) ---- */

#define FLOW_NSTEPS 13

/* The command line of test-oauth-flow. */
struct options {
    const char *env_file;
    const char *service;
    const char *user;
    bool password_stdin;
    bool browser_first;
    bool no_browser;
    bool open_browser;
    int timeout_s;
    int port;
    const char *ca_file;
};

/* One run: what the steps learn and hand on to the next ones. Strings are owned (free). */
struct flow {
    const struct config *cfg;
    const struct options *opt;
    struct flow_http http;
    struct flow_listener listener;
    int step;
    const char *failed; /* name of the failed step */

    char *service, *resource, *issuer, *scope;
    char *authorization_endpoint, *token_endpoint, *registration_endpoint, *revocation_endpoint;
    bool iss_parameter;
    char *redirect_uri;
    char *client_id, *registration_token, *registration_uri;
    char *verifier, *state, *authorize_url, *first_redirect;
    char *code;
    char *access_token, *refresh_token;
    char *session_id, *protocol_version;
    char *password;
    json_t *tools;
};

/* Each step prints its one line (flow_say, or flow_fail which also records the step's name in
 * f->failed) and returns false when the run cannot go on. */
bool flow_step_discovery(struct flow *f);
bool flow_step_resource_metadata(struct flow *f);
bool flow_step_as_metadata(struct flow *f);
bool flow_step_register(struct flow *f);
bool flow_step_authorize(struct flow *f);
bool flow_step_login(struct flow *f);
bool flow_step_token(struct flow *f);
bool flow_step_refresh(struct flow *f);
bool flow_step_initialize(struct flow *f);
bool flow_step_tools_list(struct flow *f);
bool flow_step_tools_call(struct flow *f);
bool flow_step_revoke(struct flow *f);
bool flow_step_cleanup(struct flow *f);
/* After a failure: revoke the tokens and delete the client handed out so far, printing nothing. */
void flow_cleanup_quietly(struct flow *f);

/* "OK   [ 3/13] step: ..." (status "OK" or "SKIP") on stdout, flushed. */
void flow_say(struct flow *f, const char *status, const char *step, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* "FAIL [ 3/13] step: ..."; records step in f->failed; returns false. */
bool flow_fail(struct flow *f, const char *step, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "eyJhbGci... (812 chars)" into out: a token recognisable, not usable. Returns out. */
const char *flow_masked(const char *token, char *out, size_t size);
/* "HTTP 400 invalid_grant: ..." (OAuth error, JSON-RPC error, page summary or the body's start). */
void flow_describe_answer(struct buf *out, const struct flow_response *r);
/* flow_http_do on the run's session; when no answer came, the step fails with the reason. */
bool flow_send(struct flow *f, const char *step, const struct flow_request *req, struct flow_response *r);
/* The body as JSON (caller json_decref()s), or NULL. */
json_t *flow_json_answer(const struct flow_response *r);
/* The step fails with "what: " + flow_describe_answer(r); returns false. */
bool flow_failed_answer(struct flow *f, const char *step, const char *what, const struct flow_response *r);
/* Append name=value, form-encoded, to body. */
void flow_form_add(struct buf *body, const char *name, const char *value);
/* Wipe a secret string, then free it (NULL is fine). */
void flow_wipe_free(char *s);

#endif
