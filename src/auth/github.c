/*
 * github.c - GitHub login policy and response parsing (see github.h).
 */
#include "github.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"

static char *lower_dup(const char *s)
{
    char *out = gw_strdup(s);
    for (char *p = out; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return out;
}

static void split_list(const char *text, char ***items, size_t *n)
{
    *items = NULL;
    *n = 0;
    if (!text)
        return;
    const char *p = text;
    while (*p) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if (b > a) {
            *items = gw_realloc(*items, (*n + 1) * sizeof **items);
            char *item = gw_strndup(a, (size_t)(b - a));
            (*items)[(*n)++] = lower_dup(item);
            free(item);
        }
        p = *end ? end + 1 : end;
    }
}

static void finish_policy(struct github_policy *out)
{
    for (size_t i = 0; i < out->nusers; i++)
        if (strcmp(out->users[i], "*") == 0)
            out->anyone = true;
}

void github_policy_from_lists(const char *users, const char *orgs, struct github_policy *out)
{
    memset(out, 0, sizeof *out);
    split_list(users, &out->users, &out->nusers);
    split_list(orgs, &out->orgs, &out->norgs);
    finish_policy(out);
}

void github_policy_load(const struct config *cfg, struct github_policy *out)
{
    github_policy_from_lists(config_get(cfg, "ALLOWED_GITHUB_USERS", ""),
                             config_get(cfg, "ALLOWED_GITHUB_ORGS", ""), out);
}

void github_policy_free(struct github_policy *p)
{
    github_orgs_free(p->users, p->nusers);
    github_orgs_free(p->orgs, p->norgs);
    memset(p, 0, sizeof *p);
}

bool github_user_allowed(const struct github_policy *p, const char *login)
{
    if (!login || !login[0])
        return false;
    if (p->anyone)
        return true;
    for (size_t i = 0; i < p->nusers; i++)
        if (strcasecmp(p->users[i], login) == 0)
            return true;
    return false;
}

bool github_orgs_allowed(const struct github_policy *p, char *const *member_orgs, size_t n)
{
    if (p->norgs == 0)
        return true;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p->norgs; j++)
            if (strcasecmp(member_orgs[i], p->orgs[j]) == 0)
                return true;
    return false;
}

enum gw_err github_parse_token_response(const char *body, size_t len, char **access_token, char *error_out,
                                        size_t error_cap)
{
    *access_token = NULL;
    if (error_cap)
        error_out[0] = '\0';
    json_t *obj = json_loadb(body, len, 0, NULL);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return GW_ERR_INVALID;
    }
    json_t *err = json_object_get(obj, "error");
    json_t *tok = json_object_get(obj, "access_token");
    enum gw_err rc;
    if (json_is_string(err)) {
        if (error_cap)
            snprintf(error_out, error_cap, "%s", json_string_value(err));
        rc = GW_ERR_PROTOCOL;
    } else if (json_is_string(tok) && json_string_length(tok) > 0) {
        *access_token = gw_strdup(json_string_value(tok));
        rc = GW_OK;
    } else {
        rc = GW_ERR_INVALID;
    }
    json_decref(obj);
    return rc;
}

enum gw_err github_parse_user(const char *body, size_t len, struct github_user *out)
{
    memset(out, 0, sizeof *out);
    json_t *obj = json_loadb(body, len, 0, NULL);
    json_t *id = json_object_get(obj, "id");
    json_t *login = json_object_get(obj, "login");
    if (!json_is_object(obj) || !json_is_integer(id) || json_integer_value(id) <= 0 ||
        !json_is_string(login) || json_string_length(login) == 0 || json_string_length(login) > 100) {
        json_decref(obj);
        return GW_ERR_INVALID;
    }
    out->id = json_integer_value(id);
    out->login = gw_strdup(json_string_value(login));
    json_t *email = json_object_get(obj, "email");
    if (json_is_string(email) && json_string_length(email) > 0)
        out->email = gw_strdup(json_string_value(email));
    json_decref(obj);
    return GW_OK;
}

void github_user_clear(struct github_user *u)
{
    free(u->login);
    free(u->email);
    memset(u, 0, sizeof *u);
}

char *github_parse_primary_email(const char *body, size_t len)
{
    json_t *arr = json_loadb(body, len, 0, NULL);
    char *out = NULL;
    size_t i;
    json_t *item;
    if (json_is_array(arr)) {
        json_array_foreach(arr, i, item)
        {
            json_t *email = json_object_get(item, "email");
            if (json_is_string(email) && json_is_true(json_object_get(item, "primary")) &&
                json_is_true(json_object_get(item, "verified"))) {
                out = gw_strdup(json_string_value(email));
                break;
            }
        }
    }
    json_decref(arr);
    return out;
}

enum gw_err github_parse_orgs(const char *body, size_t len, char ***orgs, size_t *n)
{
    *orgs = NULL;
    *n = 0;
    json_t *arr = json_loadb(body, len, 0, NULL);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return GW_ERR_INVALID;
    }
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item)
    {
        json_t *login = json_object_get(item, "login");
        if (json_is_string(login)) {
            *orgs = gw_realloc(*orgs, (*n + 1) * sizeof **orgs);
            (*orgs)[(*n)++] = lower_dup(json_string_value(login));
        }
    }
    json_decref(arr);
    return GW_OK;
}

void github_orgs_free(char **orgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(orgs[i]);
    free(orgs);
}
