/*
 * config.c - the configuration snapshot: loading (defaults < .env < environment), getters,
 * value parsing, secret masking and validation against the schema (config_schema.c).
 *
 * A config is a name-sorted array of (name, value) pairs: small (tens of keys), immutable after
 * loading, searched by bisection. The .env parser lives in config_env.c.
 */
#include "config_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "urlform.h"

extern char **environ;

struct config_entry {
    char *name;
    char *value;
    bool from_default;
};

struct config {
    struct config_entry *entries; /* sorted by name (strcmp) */
    size_t count;
    size_t alloc;
};

/* ---- the sorted store ---- */

/* Index of name, or of where it would be inserted; *found says which. */
static size_t entry_position(const struct config *cfg, const char *name, bool *found)
{
    size_t low = 0, high = cfg->count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        int cmp = strcmp(cfg->entries[mid].name, name);
        if (cmp == 0) {
            *found = true;
            return mid;
        }
        if (cmp < 0)
            low = mid + 1;
        else
            high = mid;
    }
    *found = false;
    return low;
}

const char *config_lookup(const struct config *cfg, const char *name)
{
    bool found;
    size_t i = entry_position(cfg, name, &found);
    return found ? cfg->entries[i].value : NULL;
}

enum gw_err config_store(struct config *cfg, const char *name, const char *value, bool from_default)
{
    bool found;
    size_t i = entry_position(cfg, name, &found);
    if (found) {
        free(cfg->entries[i].value);
        cfg->entries[i].value = gw_strdup(value);
        cfg->entries[i].from_default = from_default;
        return GW_OK;
    }
    if (cfg->count == CONFIG_MAX_ENTRIES)
        return GW_ERR_TOO_LARGE;
    if (cfg->count == cfg->alloc) {
        cfg->alloc = cfg->alloc ? cfg->alloc * 2 : 64;
        cfg->entries = gw_realloc(cfg->entries, cfg->alloc * sizeof *cfg->entries);
    }
    memmove(cfg->entries + i + 1, cfg->entries + i, (cfg->count - i) * sizeof *cfg->entries);
    cfg->entries[i].name = gw_strdup(name);
    cfg->entries[i].value = gw_strdup(value);
    cfg->entries[i].from_default = from_default;
    cfg->count++;
    return GW_OK;
}

void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->count; i++) {
        free(cfg->entries[i].name);
        free(cfg->entries[i].value);
    }
    free(cfg->entries);
    free(cfg);
}

size_t config_count(const struct config *cfg)
{
    return cfg->count;
}

void config_entry(const struct config *cfg, size_t index, const char **name, const char **value,
                  bool *from_default)
{
    bool in_range = index < cfg->count;
    if (name)
        *name = in_range ? cfg->entries[index].name : NULL;
    if (value)
        *value = in_range ? cfg->entries[index].value : NULL;
    if (from_default)
        *from_default = in_range && cfg->entries[index].from_default;
}

/* ---- loading ---- */

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Whether an environment variable is configuration (see config_load in config.h). */
static bool environ_name_wanted(const struct config *cfg, const char *name)
{
    if (config_schema_find(name) || has_prefix(name, "MCP_") || has_prefix(name, "RATE_LIMIT_"))
        return true;
    bool found;
    size_t i = entry_position(cfg, name, &found);
    return found && !cfg->entries[i].from_default;
}

static size_t import_environ(struct config *cfg, struct buf *errors)
{
    for (char **env = environ; env && *env; env++) {
        const char *eq = strchr(*env, '=');
        if (!eq || eq == *env)
            continue;
        char *name = gw_strndup(*env, (size_t)(eq - *env));
        enum gw_err err = GW_OK;
        if (environ_name_wanted(cfg, name))
            err = config_store(cfg, name, eq + 1, false);
        free(name);
        if (err) {
            if (errors)
                buf_printf(errors, "ERROR: too many configuration variables (more than %d)\n",
                           CONFIG_MAX_ENTRIES);
            return 1;
        }
    }
    return 0;
}

enum gw_err config_load_text(const char *text, size_t len, bool use_environ, struct config **out,
                             struct buf *errors)
{
    *out = NULL;
    struct config *cfg = gw_calloc(1, sizeof *cfg);
    for (const struct config_var *var = config_schema(); var->name; var++)
        if (var->default_value)
            config_store(cfg, var->name, var->default_value, true);
    size_t problems = config_parse_env(cfg, text ? text : "", text ? len : 0, use_environ, errors);
    if (!problems && use_environ)
        problems = import_environ(cfg, errors);
    if (problems) {
        config_free(cfg);
        return GW_ERR_CONFIG;
    }
    *out = cfg;
    return GW_OK;
}

enum gw_err config_load(const char *env_file, struct config **out, struct buf *errors)
{
    *out = NULL;
    const char *path = env_file ? env_file : "./.env";
    FILE *file = fopen(path, "rb");
    if (!file) {
        if (!env_file && errno == ENOENT)
            return config_load_text("", 0, true, out, errors);
        if (errors)
            buf_printf(errors, "ERROR: Cannot read env file %s: %s\n", path, strerror(errno));
        return GW_ERR_CONFIG;
    }
    /* One byte more than the cap tells "exactly 1 MiB" from "larger". */
    char *text = gw_malloc(CONFIG_ENV_FILE_MAX + 1);
    size_t len = fread(text, 1, CONFIG_ENV_FILE_MAX + 1, file);
    bool read_failed = ferror(file);
    fclose(file);
    if (read_failed || len > CONFIG_ENV_FILE_MAX) {
        if (errors) {
            if (read_failed)
                buf_printf(errors, "ERROR: Cannot read env file %s: read error\n", path);
            else
                buf_printf(errors, "ERROR: env file %s is larger than 1 MiB\n", path);
        }
        free(text);
        return GW_ERR_CONFIG;
    }
    enum gw_err err = config_load_text(text, len, true, out, errors);
    free(text);
    return err;
}

/* ---- parsing values ---- */

enum gw_err config_parse_int(const char *text, long long *out)
{
    const char *digits = text + (text[0] == '-' || text[0] == '+');
    if (*digits < '0' || *digits > '9')
        return GW_ERR_INVALID; /* also refuses "", " 1" and "+-1", which strtoll would take */
    errno = 0;
    char *end;
    long long value = strtoll(text, &end, 10);
    if (errno == ERANGE || *end != '\0')
        return GW_ERR_INVALID;
    *out = value;
    return GW_OK;
}

enum gw_err config_parse_bool(const char *text, bool *out)
{
    static const char *const truthy[] = {"true", "1", "yes", "on"};
    static const char *const falsy[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(text, truthy[i]) == 0) {
            *out = true;
            return GW_OK;
        }
        if (strcasecmp(text, falsy[i]) == 0) {
            *out = false;
            return GW_OK;
        }
    }
    return GW_ERR_INVALID;
}

enum gw_err config_parse_rate(const char *text, long long *limit, long long *period_seconds)
{
    static const struct {
        const char *unit;
        long long seconds;
    } units[] = {{"second", 1},  {"seconds", 1},  {"minute", 60}, {"minutes", 60},
                 {"hour", 3600}, {"hours", 3600}, {"day", 86400}, {"days", 86400}};
    const char *slash = strchr(text, '/');
    if (!slash || slash == text || slash - text > 18)
        return GW_ERR_INVALID;
    char count_text[20];
    memcpy(count_text, text, (size_t)(slash - text));
    count_text[slash - text] = '\0';
    long long count;
    if (count_text[0] < '0' || count_text[0] > '9' || config_parse_int(count_text, &count) || count <= 0)
        return GW_ERR_INVALID;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(slash + 1, units[i].unit) == 0) {
            *limit = count;
            *period_seconds = units[i].seconds;
            return GW_OK;
        }
    }
    return GW_ERR_INVALID;
}

/* ---- getters ---- */

const char *config_get(const struct config *cfg, const char *name, const char *fallback)
{
    const char *value = config_lookup(cfg, name);
    if (value)
        return value;
    const struct config_var *var = config_schema_find(name);
    if (var && var->default_value)
        return var->default_value;
    return fallback;
}

bool config_has(const struct config *cfg, const char *name)
{
    const char *value = config_get(cfg, name, NULL);
    return value && *value;
}

/* The text a typed getter parses: the value, or the schema default when it is empty. */
static const char *typed_text(const struct config *cfg, const char *name)
{
    const char *value = config_lookup(cfg, name);
    if (value && *value)
        return value;
    const struct config_var *var = config_schema_find(name);
    return var ? var->default_value : NULL;
}

long long config_get_int(const struct config *cfg, const char *name, long long fallback)
{
    const char *text = typed_text(cfg, name);
    long long value;
    return text && config_parse_int(text, &value) == GW_OK ? value : fallback;
}

bool config_get_bool(const struct config *cfg, const char *name, bool fallback)
{
    const char *text = typed_text(cfg, name);
    bool value;
    return text && config_parse_bool(text, &value) == GW_OK ? value : fallback;
}

char **config_get_list(const struct config *cfg, const char *name, size_t *count)
{
    *count = 0;
    const char *text = config_get(cfg, name, NULL);
    if (!text)
        return NULL;
    size_t capacity = 1;
    for (const char *c = text; *c; c++)
        capacity += *c == ',';
    char **items = gw_calloc(capacity, sizeof *items);
    const char *start = text;
    for (;;) {
        const char *end = strchr(start, ',');
        if (!end)
            end = start + strlen(start);
        const char *item = start, *item_end = end;
        while (item < item_end && (*item == ' ' || *item == '\t'))
            item++;
        while (item_end > item && (item_end[-1] == ' ' || item_end[-1] == '\t'))
            item_end--;
        if (item_end > item)
            items[(*count)++] = gw_strndup(item, (size_t)(item_end - item));
        if (!*end)
            break;
        start = end + 1;
    }
    if (*count == 0) {
        free(items);
        return NULL;
    }
    return items;
}

void config_list_free(char **list, size_t count)
{
    for (size_t i = 0; list && i < count; i++)
        free(list[i]);
    free(list);
}

/* ---- secrets ---- */

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

bool config_is_secret(const char *name)
{
    /* a variable of the schema is what its entry says (RATE_LIMIT_TOKEN is a rate, not a token);
     * for any other name, guess from how it ends */
    const struct config_var *var = config_schema_find(name);
    if (var)
        return var->secret;
    static const char *const secret_suffixes[] = {"_SECRET", "_PASSWORD", "_TOKEN", "_KEY", "_KEY_B64"};
    for (size_t i = 0; i < sizeof secret_suffixes / sizeof secret_suffixes[0]; i++)
        if (has_suffix(name, secret_suffixes[i]))
            return true;
    return false;
}

/* A copy of value with the password of a "scheme://user:password@host" URL, and the value of
 * every query parameter named ...password (redis-sentinel://...?sentinel_password=...),
 * replaced by "****". Done by hand, not with url_split, so that a malformed URL (which url_split
 * rejects) still has its passwords hidden in error messages. NULL when there is nothing to hide. */
static char *mask_url_password(const char *value)
{
    const char *authority = strstr(value, "://");
    if (!authority)
        return NULL;
    authority += 3;
    size_t authority_len = strcspn(authority, "/?#");
    const char *at = NULL;
    for (size_t i = authority_len; i > 0; i--)
        if (authority[i - 1] == '@') {
            at = authority + i - 1;
            break;
        }
    const char *colon = at ? memchr(authority, ':', (size_t)(at - authority)) : NULL;
    bool masked_any = false;
    struct buf masked;
    buf_init(&masked, SIZE_MAX / 2);
    const char *rest = value;
    if (colon && colon + 1 != at) {
        buf_append(&masked, value, (size_t)(colon + 1 - value));
        buf_append_str(&masked, "****");
        rest = at;
        masked_any = true;
    }
    const char *query = strchr(rest, '?');
    while (query) {
        const char *param = query + 1;
        size_t param_len = strcspn(param, "&#");
        const char *equals = memchr(param, '=', param_len);
        if (equals && equals - param >= 8 && strncasecmp(equals - 8, "password", 8) == 0) {
            buf_append(&masked, rest, (size_t)(equals + 1 - rest));
            buf_append_str(&masked, "****");
            rest = param + param_len;
            masked_any = true;
        }
        query = param[param_len] == '&' ? param + param_len : NULL;
    }
    buf_append_str(&masked, rest);
    if (!masked_any) {
        buf_free(&masked);
        return NULL;
    }
    return buf_take(&masked);
}

char *config_display_value(const char *name, const char *value)
{
    if (!value || !*value)
        return gw_strdup("");
    if (config_is_secret(name)) {
        size_t n = strlen(value);
        char text[64];
        snprintf(text, sizeof text, "**** (%zu char%s)", n, n == 1 ? "" : "s");
        return gw_strdup(text);
    }
    char *masked = mask_url_password(value);
    return masked ? masked : gw_strdup(value);
}

/* ---- validation ---- */

/* Append value for an error line: quoted, password-masked, control bytes escaped so that the
 * problem stays on one line, long values shortened. */
static void append_shown_value(struct buf *out, const char *name, const char *value)
{
    char *display = config_display_value(name, value);
    buf_append_char(out, '"');
    size_t shown = 0;
    for (const unsigned char *c = (const unsigned char *)display; *c; c++) {
        if (++shown > 100) {
            buf_append_str(out, "...");
            break;
        }
        if (*c == '"' || *c == '\\')
            buf_printf(out, "\\%c", *c);
        else if (*c < 0x20 || *c == 0x7f)
            buf_printf(out, "\\x%02x", *c);
        else
            buf_append_char(out, (char)*c);
    }
    buf_append_char(out, '"');
    free(display);
}

static bool is_valid_url(const char *value)
{
    /* Its authority is a list of Sentinels, which no generic URL parser takes; the variable's
     * own check (check_redis_url) reads it. */
    if (strncasecmp(value, "redis-sentinel://", 17) == 0)
        return true;
    struct url_parts url;
    if (url_split(value, strlen(value), &url) != GW_OK)
        return false;
    static const char *const schemes[] = {"http", "https", "redis", "rediss", "unix"};
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        if (!strview_eq_nocase(url.scheme, schemes[i]))
            continue;
        if (strcmp(schemes[i], "unix") == 0)
            return url.path.len > 0;
        return url.has_authority && url.host.len > 0;
    }
    return false;
}

static bool is_log_level(const char *value)
{
    static const char *const levels[] = {"DEBUG", "INFO", "WARNING", "WARN", "ERROR"};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (strcasecmp(value, levels[i]) == 0)
            return true;
    return false;
}

static bool is_enum_choice(const char *choices, const char *value)
{
    size_t n = strlen(value);
    for (const char *c = choices; c && *c;) {
        size_t len = strcspn(c, "|");
        if (len == n && strncmp(c, value, n) == 0)
            return true;
        c += len + (c[len] == '|');
    }
    return false;
}

/* Why value is not of var's type, written into reason; false when it is fine. */
static bool type_problem(const struct config_var *var, const char *value, char *reason, size_t reason_size)
{
    long long number, period;
    bool flag;
    switch (var->type) {
    case CONFIG_STRING:
    case CONFIG_LIST:
        return false;
    case CONFIG_INT:
        if (config_parse_int(value, &number)) {
            snprintf(reason, reason_size, "is not an integer");
            return true;
        }
        if ((var->min || var->max) && (number < var->min || number > var->max)) {
            if (var->max == LLONG_MAX)
                snprintf(reason, reason_size, "must be at least %lld", var->min);
            else
                snprintf(reason, reason_size, "must be between %lld and %lld", var->min, var->max);
            return true;
        }
        return false;
    case CONFIG_BOOL:
        if (config_parse_bool(value, &flag) == GW_OK)
            return false;
        snprintf(reason, reason_size, "is not a boolean (use true or false)");
        return true;
    case CONFIG_URL:
        if (is_valid_url(value))
            return false;
        snprintf(reason, reason_size, "is not an absolute URL (like https://example.com)");
        return true;
    case CONFIG_RATE:
        if (config_parse_rate(value, &number, &period) == GW_OK)
            return false;
        snprintf(reason, reason_size, "must look like 200/minute");
        return true;
    case CONFIG_ENUM: {
        if (is_enum_choice(var->choices, value))
            return false;
        size_t n = (size_t)snprintf(reason, reason_size, "must be one of ");
        for (const char *c = var->choices; c && *c && n + 3 < reason_size; c++, n++)
            if (*c == '|') {
                reason[n++] = ',';
                reason[n] = ' ';
            } else {
                reason[n] = *c;
            }
        reason[n < reason_size ? n : reason_size - 1] = '\0';
        return true;
    }
    case CONFIG_LOG_LEVEL:
        if (is_log_level(value))
            return false;
        snprintf(reason, reason_size, "must be one of DEBUG, INFO, WARNING, ERROR");
        return true;
    }
    return false;
}

/* Check one set variable against var; append an error line per problem. Returns problems. */
static size_t check_value(const struct config *cfg, const struct config_var *var, const char *name,
                          const char *value, struct buf *errors)
{
    char reason[160];
    /* A type problem reads "<value> is not ..."; a rule's reason stands alone for a secret
     * ("must be at least 32 characters") and follows the value otherwise. */
    bool is_type_problem = type_problem(var, value, reason, sizeof reason);
    if (!is_type_problem) {
        const char *why = var->check ? var->check(cfg, value) : NULL;
        if (!why)
            return 0;
        snprintf(reason, sizeof reason, "%s", why);
    }
    if (!errors)
        return 1;
    buf_printf(errors, "ERROR: Invalid value for %s: ", name);
    char *masked = mask_url_password(value);
    if (config_is_secret(name)) {
        if (is_type_problem)
            buf_append_str(errors, "(secret value hidden) ");
    } else if (strchr(value, '@') && strstr(value, "://") && !masked) {
        /* A URL malformed enough that its password cannot be located is not shown at all. */
        buf_append_str(errors, "(value hidden: it may contain a password) ");
    } else {
        append_shown_value(errors, name, value);
        buf_append_char(errors, ' ');
    }
    free(masked);
    buf_printf(errors, "%s\n", reason);
    return 1;
}

static bool listed(const char *const *names, const char *name)
{
    for (; names && *names; names++)
        if (strcmp(*names, name) == 0)
            return true;
    return false;
}

static size_t report_missing(struct buf *errors, const char *name)
{
    if (errors)
        buf_printf(errors, "ERROR: Required variable %s not set\n", name);
    return 1;
}

/* all_required: every schema predicate applies (config_validate); otherwise only the names in
 * required can be missing (config_validate_for). */
static enum gw_err validate(const struct config *cfg, bool all_required, const char *const *required,
                            struct buf *errors)
{
    size_t problems = 0;
    for (const struct config_var *var = config_schema(); var->name; var++) {
        const char *value = config_get(cfg, var->name, NULL);
        if (value && *value) {
            problems += check_value(cfg, var, var->name, value, errors);
            continue;
        }
        bool considered = all_required || listed(required, var->name);
        bool needed =
            all_required ? var->required && var->required(cfg) : !var->required || var->required(cfg);
        if (considered && needed)
            problems += report_missing(errors, var->name);
    }
    for (const char *const *name = required; !all_required && name && *name; name++)
        if (!config_schema_find(*name) && !config_has(cfg, *name))
            problems += report_missing(errors, *name);
    for (size_t i = 0; i < cfg->count; i++) {
        const struct config_entry *entry = &cfg->entries[i];
        if (!*entry->value || config_schema_find(entry->name))
            continue;
        const struct config_var *pattern = config_schema_match(entry->name);
        if (pattern)
            problems += check_value(cfg, pattern, entry->name, entry->value, errors);
    }
    /* A service the router would refuse to route (it needs a port): validate-env and `up` say so
     * too; a role that needs only part of the configuration does not care. */
    if (all_required)
        problems += config_check_local_services(cfg, errors);
    return problems ? GW_ERR_CONFIG : GW_OK;
}

enum gw_err config_validate(const struct config *cfg, struct buf *errors)
{
    return validate(cfg, true, NULL, errors);
}

enum gw_err config_validate_for(const struct config *cfg, const char *const *required, struct buf *errors)
{
    return validate(cfg, false, required, errors);
}
