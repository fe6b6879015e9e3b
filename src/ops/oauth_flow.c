/*
 * oauth_flow.c - `mcpgw test-oauth-flow` (see oauth_flow.h): what an MCP client does against the
 * public URLs of the running stack, step by step, as the MCP authorization spec describes it:
 *
 *   discovery        an MCP request without a token gets 401 + WWW-Authenticate resource_metadata
 *   resource meta    RFC 9728 document: resource, authorization_servers
 *   AS metadata      RFC 8414 document of the issuer: endpoints, S256
 *   registration     RFC 7591, a public client with a loopback redirect URI (RFC 8252)
 *   authorization    PKCE S256, state, resource (RFC 8707)
 *   login            consent and login (oauth_flow_login.c); state and iss (RFC 9207) checked
 *   token            code exchange; the token's audience is the service
 *   refresh          refresh grant; the refresh token is rotated
 *   initialize, tools/list, tools/call   MCP through the router with the token
 *   revoke           RFC 7009 for both tokens; the router must then refuse the access token
 *   clean-up         RFC 7592 DELETE of the test client
 *
 * Tokens, codes and the password are never printed: a token shows as its first characters.
 */
#include "oauth_flow.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/public_url.h"
#include "core/role.h"
#include "oauth_flow_internal.h"

#define HTTP_TIMEOUT_MAX_S 15
#define PASSWORD_MAX 1024

/* ---- the command ---- */

static void flow_free(struct flow *f)
{
    flow_http_cleanup(&f->http);
    flow_listener_close(&f->listener);
    char *strings[] = {f->service,
                       f->resource,
                       f->issuer,
                       f->scope,
                       f->authorization_endpoint,
                       f->token_endpoint,
                       f->registration_endpoint,
                       f->revocation_endpoint,
                       f->redirect_uri,
                       f->client_id,
                       f->registration_uri,
                       f->authorize_url,
                       f->first_redirect,
                       f->session_id,
                       f->protocol_version};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        free(strings[i]);
    char *secrets[] = {f->registration_token, f->verifier,      f->state,   f->code,
                       f->access_token,       f->refresh_token, f->password};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        flow_wipe_free(secrets[i]);
    json_decref(f->tools);
}

static const char usage[] =
    "Usage: mcpgw test-oauth-flow [--service NAME] [--user NAME --password-stdin]\n"
    "                             [--browser | --no-browser] [--open] [--timeout S]\n"
    "                             [--port N] [--cacert FILE] [--env-file FILE]\n\n"
    "Run the whole OAuth + MCP flow against the running stack at its public URLs, as an MCP\n"
    "client does, and print one line per step (OK, FAIL or SKIP):\n"
    "  discovery (401 + WWW-Authenticate resource_metadata), protected resource metadata\n"
    "  (RFC 9728), authorization server metadata (RFC 8414), client registration (RFC 7591,\n"
    "  a loopback redirect URI on a port this command listens on), authorization request\n"
    "  (PKCE S256, state, resource), login, code exchange, refresh, MCP initialize, tools/list,\n"
    "  tools/call of echo (when the service has it), revocation of both tokens (the router must\n"
    "  then refuse the access token), and deletion of the test client.\n\n"
    "Login: the consent page is approved and the login page answered as a browser would. With\n"
    "--user, the local-users form is submitted (password from stdin or the terminal). Otherwise\n"
    "GitHub is chosen; an identity provider that redirects straight back (a test fake) completes\n"
    "by itself. When a person is needed (the real GitHub's login page, or local users without\n"
    "--user), the URL to open in a browser is printed, and the command waits for the redirect.\n\n"
    "  --service NAME     the MCP service to test (default: the first enabled one, e.g. mcp-echo;\n"
    "                     \"echo\" means mcp-echo)\n"
    "  --user NAME        log in as this local user (LOCAL_USERS_FILE)\n"
    "  --password-stdin   read that user's password from the first line of stdin\n"
    "  --browser          do not walk the pages: print the URL for a person at once\n"
    "  --no-browser       never wait for a person: fail the login step instead\n"
    "  --open             also open the URL with xdg-open\n"
    "  --timeout S        how long to wait for the person's login (default 300 s); every HTTP\n"
    "                     request gives up after at most 15 s\n"
    "  --port N           the loopback listener's port (default: any free port)\n"
    "  --cacert FILE      CA certificates for HTTPS (default: the system's)\n\n"
    "Tokens, codes and passwords are never printed (a token shows as its first characters).\n"
    "Exit status: 0 every step passed, 1 a step failed, 2 usage error or unknown service,\n"
    "78 configuration error.\n";

static int parse_options(int argc, char **argv, struct options *o)
{
    *o = (struct options){.timeout_s = 300};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 1;
        } else if (strcmp(a, "--env-file") == 0 && has_value) {
            o->env_file = argv[++i];
        } else if (strcmp(a, "--service") == 0 && has_value) {
            o->service = argv[++i];
        } else if (strcmp(a, "--user") == 0 && has_value) {
            o->user = argv[++i];
        } else if (strcmp(a, "--password-stdin") == 0) {
            o->password_stdin = true;
        } else if (strcmp(a, "--browser") == 0) {
            o->browser_first = true;
        } else if (strcmp(a, "--no-browser") == 0) {
            o->no_browser = true;
        } else if (strcmp(a, "--open") == 0) {
            o->open_browser = true;
        } else if (strcmp(a, "--cacert") == 0 && has_value) {
            o->ca_file = argv[++i];
        } else if ((strcmp(a, "--timeout") == 0 || strcmp(a, "--port") == 0) && has_value) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            bool port = strcmp(a, "--port") == 0;
            if (*end || v < (port ? 0 : 1) || v > (port ? 65535 : 86400)) {
                fprintf(stderr, "ERROR: %s needs %s\n", a,
                        port ? "a port number (0-65535)" : "seconds (1-86400)");
                return -1;
            }
            if (port)
                o->port = (int)v;
            else
                o->timeout_s = (int)v;
        } else {
            fprintf(stderr, "ERROR: unknown option %s\n%s", a, usage);
            return -1;
        }
    }
    if (o->browser_first && o->no_browser) {
        fprintf(stderr, "ERROR: --browser and --no-browser exclude each other\n");
        return -1;
    }
    if (o->password_stdin && !o->user) {
        fprintf(stderr, "ERROR: --password-stdin needs --user NAME\n");
        return -1;
    }
    return 0;
}

/* The password of --user: the first line of stdin, or typed at the terminal without echo. */
static char *read_password(const struct options *o)
{
    char line[PASSWORD_MAX + 2];
    FILE *in = stdin;
    FILE *tty = NULL;
    struct termios old, quiet;
    bool echo_off = false;
    if (!o->password_stdin) {
        tty = fopen("/dev/tty", "r+e");
        if (!tty) {
            fprintf(stderr, "ERROR: --user needs --password-stdin when there is no terminal\n");
            return NULL;
        }
        in = tty;
        if (tcgetattr(fileno(tty), &old) == 0) {
            quiet = old;
            quiet.c_lflag &= ~(tcflag_t)ECHO;
            echo_off = tcsetattr(fileno(tty), TCSAFLUSH, &quiet) == 0;
        }
        fprintf(tty, "Password for %s: ", o->user);
        fflush(tty);
    }
    char *got = fgets(line, sizeof(line), in);
    if (tty) {
        if (echo_off)
            tcsetattr(fileno(tty), TCSAFLUSH, &old);
        fputs("\n", tty);
        fclose(tty);
    }
    if (!got) {
        fprintf(stderr, "ERROR: no password given for %s\n", o->user);
        return NULL;
    }
    line[strcspn(line, "\r\n")] = '\0';
    char *password = line[0] ? gw_strdup(line) : NULL;
    crypto_wipe(line, sizeof(line));
    if (!password)
        fprintf(stderr, "ERROR: empty password for %s\n", o->user);
    return password;
}

/* --service NAME among the enabled services ("echo" is accepted for "mcp-echo"). */
static char *pick_service(const struct config *cfg, const char *wanted)
{
    size_t n = 0;
    char **services = public_url_mcp_services(cfg, &n);
    char *found = NULL;
    for (size_t i = 0; i < n && !found; i++) {
        if (!wanted || strcmp(services[i], wanted) == 0 ||
            (strncmp(services[i], "mcp-", 4) == 0 && strcmp(services[i] + 4, wanted) == 0))
            found = gw_strdup(services[i]);
    }
    if (!found) {
        struct buf list;
        buf_init(&list, 4096);
        for (size_t i = 0; i < n; i++)
            buf_printf(&list, "%s%s", i ? ", " : "", services[i]);
        if (wanted)
            fprintf(stderr, "ERROR: no enabled MCP service named '%s' (enabled: %s)\n", wanted,
                    n ? buf_cstr(&list) : "none");
        else
            fprintf(
                stderr,
                "ERROR: no MCP service is enabled (MCP_ECHO_ENABLED, MCP_FETCH_ENABLED, MCP_<NAME>_...)\n");
        buf_free(&list);
    }
    config_list_free(services, n);
    return found;
}

int test_oauth_flow_main(int argc, char **argv)
{
    struct options opt;
    int r = parse_options(argc, argv, &opt);
    if (r)
        return r > 0 ? 0 : 2;
    struct config *cfg = role_load_config(opt.env_file);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    struct flow f = {.cfg = cfg, .opt = &opt};
    f.listener.fd = -1;
    int exit_code = 1;
    f.service = pick_service(cfg, opt.service);
    if (!f.service) {
        exit_code = 2;
        goto out;
    }
    if (opt.user && !(f.password = read_password(&opt))) {
        exit_code = 2;
        goto out;
    }
    long timeout_ms = (opt.timeout_s < HTTP_TIMEOUT_MAX_S ? opt.timeout_s : HTTP_TIMEOUT_MAX_S) * 1000L;
    if (flow_http_init(&f.http, timeout_ms, opt.ca_file) != GW_OK) {
        fprintf(stderr, "ERROR: libcurl could not be initialised\n");
        goto out;
    }
    if (flow_listener_open(&f.listener, opt.port) != GW_OK) {
        fprintf(stderr, "ERROR: cannot listen on 127.0.0.1:%d for the redirect: %s\n", opt.port,
                strerror(errno));
        goto out;
    }
    struct buf redirect;
    buf_init(&redirect, 256);
    buf_printf(&redirect, "http://127.0.0.1:%d/callback", f.listener.port);
    f.redirect_uri = buf_take(&redirect);
    f.resource = public_url_resource(cfg, f.service);
    printf("test-oauth-flow: %s at %s\n", f.service, f.resource);
    fflush(stdout);

    static bool (*const steps[FLOW_NSTEPS])(struct flow *) = {
        flow_step_discovery,  flow_step_resource_metadata, flow_step_as_metadata,
        flow_step_register,   flow_step_authorize,         flow_step_login,
        flow_step_token,      flow_step_refresh,           flow_step_initialize,
        flow_step_tools_list, flow_step_tools_call,        flow_step_revoke,
        flow_step_cleanup,
    };
    bool ok = true;
    for (f.step = 1; f.step <= FLOW_NSTEPS && ok; f.step++)
        ok = steps[f.step - 1](&f);
    if (ok) {
        printf("PASS: all %d steps of the OAuth + MCP flow against %s\n", FLOW_NSTEPS, f.service);
        exit_code = 0;
    } else {
        flow_cleanup_quietly(&f);
        printf("FAILED at step %d of %d (%s)\n", f.step - 1, FLOW_NSTEPS, f.failed ? f.failed : "?");
    }
out:
    flow_free(&f);
    config_free(cfg);
    return exit_code;
}
