/*
 * dashboards.c - import-dashboards: read and check every dashboard first, then make sure the
 * folder exists, then post each dashboard. Grafana's HTTP API, synchronously with libcurl's
 * easy interface (a one-shot command needs no event loop).
 */
#include "dashboards.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/role.h"

#define FOLDER_UID "mcpgw"
#define FOLDER_TITLE "mcpgw"
#define MAX_DASHBOARDS 64
#define MAX_ANSWER_BYTES (1024 * 1024)

static const char usage[] =
    "Usage: mcpgw import-dashboards [--dir DIR] [--env-file FILE]\n"
    "Import mcpgw's Grafana dashboards (every *.json in DIR, default DASHBOARDS_DIR, which is\n"
    "./monitoring/dashboards) into the Grafana at GRAFANA_URL, authenticated with GRAFANA_API_KEY\n"
    "(a service account token with the Editor role). They go into the folder \"" FOLDER_TITLE "\", created\n"
    "when missing. Each dashboard keeps its uid, so importing again updates the same dashboards.\n"
    "The dashboards query a Prometheus data source that scrapes mcpgw (monitoring/prometheus.yml);\n"
    "pick the data source in the selector at the top of each. See docs/monitoring.md.\n"
    "Exit 0 when all were imported, 1 when Grafana could not be reached, refused the token or a\n"
    "dashboard, 2 on a usage error, 78 when GRAFANA_URL or GRAFANA_API_KEY is not set.\n";

/* ---- reading the dashboards ---- */

struct dashboard {
    char *path;
    json_t *json;            /* owned */
    const char *uid, *title; /* borrowed from json */
};

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct dashboard *)a)->path, ((const struct dashboard *)b)->path);
}

/* Grafana's rule for uids: at most 40 of A-Z a-z 0-9 - _. */
static bool valid_uid(const char *uid)
{
    size_t n = strlen(uid);
    if (n == 0 || n > 40)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(uid[i] == '-' || uid[i] == '_' || (uid[i] >= '0' && uid[i] <= '9') ||
              (uid[i] >= 'a' && uid[i] <= 'z') || (uid[i] >= 'A' && uid[i] <= 'Z')))
            return false;
    return true;
}

/* A dashboard model as Grafana saves it: an object with a uid, a title, a schemaVersion and
 * panels. Prints why not and returns false otherwise. */
static bool check_dashboard(struct dashboard *d)
{
    json_error_t jerr;
    d->json = json_load_file(d->path, JSON_REJECT_DUPLICATES, &jerr);
    if (!d->json) {
        fprintf(stderr, "ERROR: %s line %d: %s\n", d->path, jerr.line, jerr.text);
        return false;
    }
    json_t *uid = json_object_get(d->json, "uid"), *title = json_object_get(d->json, "title");
    const char *problem = NULL;
    if (!json_is_object(d->json))
        problem = "is not a JSON object";
    else if (!json_is_string(uid) || !valid_uid(json_string_value(uid)))
        problem = "needs a \"uid\" of 1 to 40 letters, digits, - or _";
    else if (!json_is_string(title) || !*json_string_value(title))
        problem = "needs a \"title\"";
    else if (!json_is_integer(json_object_get(d->json, "schemaVersion")))
        problem = "needs a \"schemaVersion\"";
    else if (!json_is_array(json_object_get(d->json, "panels")))
        problem = "needs \"panels\"";
    if (problem) {
        fprintf(stderr, "ERROR: %s %s: not a Grafana dashboard\n", d->path, problem);
        return false;
    }
    d->uid = json_string_value(uid);
    d->title = json_string_value(title);
    /* An id belongs to one Grafana installation; importing by uid needs it null. */
    json_object_set_new(d->json, "id", json_null());
    return true;
}

/* Every *.json in dir, sorted by name, checked. Returns how many, or -1 after printing errors. */
static int load_dashboards(const char *dir, struct dashboard *out, size_t max)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "ERROR: cannot read the dashboards directory %s: %s (set DASHBOARDS_DIR or --dir)\n",
                dir, strerror(errno));
        return -1;
    }
    size_t n = 0;
    bool too_many = false;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        if (n == max) {
            too_many = true;
            break;
        }
        struct buf path;
        buf_init(&path, 8192);
        buf_printf(&path, "%s/%s", dir, e->d_name);
        out[n++] = (struct dashboard){.path = buf_take(&path)};
    }
    closedir(d);
    qsort(out, n, sizeof(*out), by_path);
    bool ok = !too_many;
    if (too_many)
        fprintf(stderr, "ERROR: more than %zu dashboards in %s\n", max, dir);
    if (n == 0 && !too_many) {
        fprintf(stderr, "ERROR: no dashboards (*.json) in %s\n", dir);
        ok = false;
    }
    for (size_t i = 0; i < n; i++)
        ok = check_dashboard(&out[i]) && ok;
    for (size_t i = 0; ok && i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(out[i].uid, out[j].uid) == 0) {
                fprintf(stderr, "ERROR: %s and %s have the same uid %s\n", out[j].path, out[i].path,
                        out[i].uid);
                ok = false;
            }
    if (!ok) {
        for (size_t i = 0; i < n; i++) {
            json_decref(out[i].json);
            free(out[i].path);
        }
        return -1;
    }
    return (int)n;
}

/* ---- talking to Grafana ---- */

struct grafana {
    const char *base; /* GRAFANA_URL without a trailing slash */
    struct curl_slist *headers;
    CURL *curl;
};

struct answer {
    long status;
    struct buf body;
    json_t *json; /* the body parsed, when it is JSON; owned */
};

static size_t collect(char *data, size_t size, size_t nmemb, void *arg)
{
    struct buf *b = arg;
    size_t n = size * nmemb;
    /* past the cap curl stops the transfer: a Grafana answer is never this big */
    return buf_append(b, data, n) == GW_OK ? n : 0;
}

/* One request; body may be NULL (GET). Returns false after printing why when Grafana could not
 * be reached; otherwise fills *a (any status). */
static bool grafana_call(struct grafana *g, const char *method, const char *path, const char *body,
                         struct answer *a)
{
    struct buf url;
    buf_init(&url, 16384);
    buf_printf(&url, "%s%s", g->base, path);
    buf_init(&a->body, MAX_ANSWER_BYTES);
    a->json = NULL;
    a->status = 0;
    curl_easy_reset(g->curl);
    curl_easy_setopt(g->curl, CURLOPT_URL, url.data);
    curl_easy_setopt(g->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(g->curl, CURLOPT_HTTPHEADER, g->headers);
    if (body) {
        curl_easy_setopt(g->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(g->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(g->curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(g->curl, CURLOPT_WRITEDATA, &a->body);
    curl_easy_setopt(g->curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(g->curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(g->curl, CURLOPT_NOSIGNAL, 1L);
    /* No redirects: following one would send the token wherever it points. */
    curl_easy_setopt(g->curl, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(g->curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(g->curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    CURLcode rc = curl_easy_perform(g->curl);
    if (rc != CURLE_OK) {
        fprintf(stderr, "ERROR: cannot reach Grafana at %s: %s\n", g->base, curl_easy_strerror(rc));
        buf_free(&url);
        buf_free(&a->body);
        return false;
    }
    curl_easy_getinfo(g->curl, CURLINFO_RESPONSE_CODE, &a->status);
    a->json = json_loadb(a->body.data ? a->body.data : "", a->body.len, 0, NULL);
    buf_free(&url);
    return true;
}

static void answer_free(struct answer *a)
{
    json_decref(a->json);
    a->json = NULL;
    buf_free(&a->body);
}

/* Grafana's own words for a refusal: its "message", else nothing. */
static const char *grafana_message(const struct answer *a)
{
    const char *m = json_string_value(json_object_get(a->json, "message"));
    return m && *m ? m : NULL;
}

/* The sentence for an answer that is not what we asked for, on stderr. */
static void explain(const struct grafana *g, const char *what, const struct answer *a)
{
    const char *m = grafana_message(a);
    char said[600] = "";
    if (m)
        snprintf(said, sizeof(said), " (Grafana: %.500s)", m);
    if (!a->json && a->status != 401) {
        /* Grafana's API answers JSON, even its errors: this is something else (a sub-path
         * missing from GRAFANA_URL makes Grafana serve its web page, or another server answers). */
        fprintf(stderr,
                "ERROR: %s: the answer (status %ld) is not from Grafana's HTTP API: is GRAFANA_URL (%s) "
                "Grafana's address, including any sub-path it is served under?\n",
                what, a->status, g->base);
        return;
    }
    switch (a->status) {
    case 401:
        fprintf(stderr,
                "ERROR: Grafana refused GRAFANA_API_KEY (401 Unauthorized)%s: check that the token is "
                "right and has not expired or been revoked\n",
                said);
        break;
    case 403:
        fprintf(stderr, "ERROR: %s: 403 Forbidden%s: the token's service account needs the Editor role\n",
                what, said);
        break;
    case 404:
        fprintf(stderr,
                "ERROR: %s: 404 Not Found%s: is GRAFANA_URL (%s) Grafana's address, including any sub-path "
                "it is served under?\n",
                what, said, g->base);
        break;
    default:
        if (a->status >= 300 && a->status < 400)
            fprintf(stderr,
                    "ERROR: %s: Grafana answered %ld (a redirect): set GRAFANA_URL to the address it "
                    "redirects to\n",
                    what, a->status);
        else
            fprintf(stderr, "ERROR: %s: Grafana answered %ld%s\n", what, a->status, said);
    }
}

/* The folder exists afterwards, or false after printing why. */
static bool ensure_folder(struct grafana *g)
{
    struct answer a;
    if (!grafana_call(g, "GET", "/api/folders/" FOLDER_UID, NULL, &a))
        return false;
    if (a.status == 200 && json_is_object(a.json)) {
        answer_free(&a);
        return true;
    }
    /* A missing folder is a 404 in JSON from Grafana; anything else is a real problem. */
    if (a.status != 404 || !json_is_object(a.json)) {
        explain(g, "GET /api/folders/" FOLDER_UID, &a);
        answer_free(&a);
        return false;
    }
    answer_free(&a);
    if (!grafana_call(g, "POST", "/api/folders",
                      "{\"uid\":\"" FOLDER_UID "\",\"title\":\"" FOLDER_TITLE "\"}", &a))
        return false;
    bool ok = a.status == 200 && json_is_object(a.json);
    if (ok)
        printf("Created folder %s\n", FOLDER_TITLE);
    else if (a.status == 409)
        fprintf(stderr,
                "ERROR: POST /api/folders: 409 Conflict (Grafana: %s): a folder named \"" FOLDER_TITLE
                "\" with another uid exists; rename it, or move its dashboards and delete it\n",
                grafana_message(&a) ? grafana_message(&a) : "exists");
    else
        explain(g, "POST /api/folders", &a);
    answer_free(&a);
    return ok;
}

static bool import_one(struct grafana *g, const struct dashboard *d)
{
    json_t *request = json_pack("{s:O, s:s, s:b, s:s}", "dashboard", d->json, "folderUid", FOLDER_UID,
                                "overwrite", 1, "message", "mcpgw import-dashboards " MCPGW_VERSION);
    char *body = json_dumps(request, JSON_COMPACT);
    json_decref(request);
    if (!body)
        gw_oom(0);
    struct answer a;
    bool reached = grafana_call(g, "POST", "/api/dashboards/db", body, &a);
    free(body);
    if (!reached)
        return false;
    bool ok = a.status == 200 && json_is_object(a.json);
    if (ok) {
        json_t *version = json_object_get(a.json, "version");
        const char *url = json_string_value(json_object_get(a.json, "url"));
        printf("Imported %-16s %-24s version %lld  %s%s\n", d->uid, d->title,
               json_is_integer(version) ? (long long)json_integer_value(version) : 0LL, url ? g->base : "",
               url ? url : "");
    } else {
        char what[400];
        snprintf(what, sizeof(what), "dashboard %s (%s)", d->uid, d->path);
        explain(g, what, &a);
    }
    answer_free(&a);
    return ok;
}

/* ---- the command ---- */

int import_dashboards_main(int argc, char **argv)
{
    const char *env_file = NULL, *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc) {
            env_file = argv[++i];
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else {
            fprintf(stderr, "ERROR: unknown option %s\n%s", argv[i], usage);
            return 2;
        }
    }
    struct config *cfg = role_load_config(env_file);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    /* GRAFANA_URL and GRAFANA_API_KEY must be set, and what is set must be valid. */
    static const char *const required[] = {"GRAFANA_URL", "GRAFANA_API_KEY", NULL};
    struct buf errors;
    buf_init(&errors, 64 * 1024);
    if (config_validate_for(cfg, required, &errors) != GW_OK) {
        fputs(buf_cstr(&errors), stderr);
        buf_free(&errors);
        config_free(cfg);
        return CONFIG_EXIT_CODE;
    }
    buf_free(&errors);
    if (!dir)
        dir = config_get(cfg, "DASHBOARDS_DIR", "./monitoring/dashboards");

    struct dashboard dashboards[MAX_DASHBOARDS];
    int n = load_dashboards(dir, dashboards, MAX_DASHBOARDS);
    if (n < 0) {
        config_free(cfg);
        return 1;
    }

    struct buf base, auth;
    buf_init(&base, 16384);
    buf_printf(&base, "%s", config_get(cfg, "GRAFANA_URL", ""));
    while (base.len > 0 && base.data[base.len - 1] == '/')
        base.data[--base.len] = '\0';
    buf_init(&auth, 16384);
    buf_printf(&auth, "Authorization: Bearer %s", config_get(cfg, "GRAFANA_API_KEY", ""));
    struct grafana g = {.base = base.data, .curl = curl_easy_init()};
    if (!g.curl)
        gw_oom(0);
    g.headers = curl_slist_append(g.headers, auth.data);
    g.headers = curl_slist_append(g.headers, "Content-Type: application/json");
    g.headers = curl_slist_append(g.headers, "Accept: application/json");
    g.headers = curl_slist_append(g.headers, "Expect:");

    int imported = 0;
    bool ok = ensure_folder(&g);
    for (int i = 0; ok && i < n; i++) {
        /* After a 401 or an unreachable Grafana the rest would fail the same way: stop. */
        if (!import_one(&g, &dashboards[i]))
            ok = false;
        else
            imported++;
    }
    if (ok)
        printf("%d dashboards imported into folder %s at %s\n", imported, FOLDER_TITLE, g.base);
    else
        fprintf(stderr, "ERROR: %d of %d dashboards imported\n", imported, n);

    curl_slist_free_all(g.headers);
    curl_easy_cleanup(g.curl);
    /* the token is in this buffer: wipe it before it goes back to the allocator */
    memset(auth.data, 0, auth.len);
    buf_free(&auth);
    buf_free(&base);
    for (int i = 0; i < n; i++) {
        json_decref(dashboards[i].json);
        free(dashboards[i].path);
    }
    config_free(cfg);
    return ok ? 0 : 1;
}
