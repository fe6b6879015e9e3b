# justfile - `just COMMAND [ARGS]` runs `./mcpgw COMMAND [ARGS]`, so the operations guide's
# commands work as written (just health-check, just logs auth --tail 100, just restart, ...).
# Every recipe forwards its arguments unchanged, quoted. `just --list` shows them all.
# A guide command that this build does not have yet answers with mcpgw's own message
# ("unknown command", exit 2); `mcpgw --help` lists what exists.

set positional-arguments

# MCPGW=/path/to/mcpgw picks another binary (the tests use the ASan build this way)
mcpgw := env_var_or_default("MCPGW", justfile_directory() / "mcpgw")

# list the recipes
default:
    @just --list --unsorted

# build, then start the whole stack in the foreground (a local .env is written when missing)
[no-exit-message]
up *args:
    @make --no-print-directory -C {{justfile_directory()}} all >/dev/null
    @"{{justfile_directory()}}/scripts/up" "$@"

# stop every service (or one: just down SERVICE)
[no-exit-message]
down *args:
    @"{{mcpgw}}" down "$@"

# restart one service, or all with .env re-read
[no-exit-message]
restart *args:
    @"{{mcpgw}}" restart "$@"

# kill -9 everything, clear stale pid files and sockets, start fresh
[no-exit-message]
emergency-restart *args:
    @"{{mcpgw}}" emergency-restart "$@"

# service status (the guide's container status)
[no-exit-message]
ps *args:
    @"{{mcpgw}}" ps "$@"

# same as ps
[no-exit-message]
status *args:
    @"{{mcpgw}}" status "$@"

# every service's /health as a table
[no-exit-message]
health-check *args:
    @"{{mcpgw}}" health-check "$@"

# JSON log lines: just logs [SERVICE] [-f] [--tail N]
[no-exit-message]
logs *args:
    @"{{mcpgw}}" logs "$@"

# CPU, memory, disk I/O, open fds per service
[no-exit-message]
stats *args:
    @"{{mcpgw}}" stats "$@"

# check the configuration
[no-exit-message]
validate-env *args:
    @"{{mcpgw}}" validate-env "$@"

# effective configuration, secrets masked
[no-exit-message]
show-config *args:
    @"{{mcpgw}}" show-config "$@"

# add a local user (password from the terminal)
[no-exit-message]
add-user *args:
    @"{{mcpgw}}" add-user "$@"

# the guide's remaining runbook commands (forwarded as they land in mcpgw)

# a token's header and claims, times in UTC (no verification)
[no-exit-message]
decode-token *args:
    @"{{mcpgw}}" decode-token "$@"

# verify a token as the router does: VALID, or INVALID with the reason
[no-exit-message]
validate-token *args:
    @"{{mcpgw}}" validate-token "$@"

# mint a test token: just generate-token --user alice
[no-exit-message]
generate-token *args:
    @"{{mcpgw}}" generate-token "$@"

# the whole OAuth + MCP flow against the running stack, one line per step
[no-exit-message]
test-oauth-flow *args:
    @"{{mcpgw}}" test-oauth-flow "$@"

# redis-cli against REDIS_URL with the password: just redis-cli ping
[no-exit-message]
redis-cli *args:
    @"{{mcpgw}}" redis-cli "$@"

# remove expired and orphaned token records and index entries
[no-exit-message]
cleanup-tokens *args:
    @"{{mcpgw}}" cleanup-tokens "$@"

# TTLs for keys that lack one, stale keys removed, MEMORY PURGE
[no-exit-message]
redis-vacuum *args:
    @"{{mcpgw}}" redis-vacuum "$@"

# revoke every access and refresh token of a user (--user) and/or a client (--client)
[no-exit-message]
revoke-tokens *args:
    @"{{mcpgw}}" revoke-tokens "$@"

# rotate LOG_DIR/*.log, keep N (--keep), services reopen their logs
[no-exit-message]
rotate-logs *args:
    @"{{mcpgw}}" rotate-logs "$@"

# Redis + configuration (+ keys with --include-secrets) into DATA_DIR/backups
[no-exit-message]
backup-all *args:
    @"{{mcpgw}}" backup-all "$@"

# verify an archive, stop services, restore Redis data and keys, start them
[no-exit-message]
restore *args:
    @"{{mcpgw}}" restore "$@"

# a scrubbed archive of config, health, logs, metrics, versions for bug reports
[no-exit-message]
diagnostic-bundle *args:
    @"{{mcpgw}}" diagnostic-bundle "$@"

# rebuild, then restart services one at a time, each gated on its health
[no-exit-message]
update-all *args:
    @"{{mcpgw}}" update-all "$@"

# obtain or renew the HTTPS certificates now with ACME (--force, --host H)
[no-exit-message]
renew-certs *args:
    @"{{mcpgw}}" renew-certs "$@"

# post the Grafana dashboards of monitoring/ to GRAFANA_URL
[no-exit-message]
import-dashboards *args:
    @"{{mcpgw}}" import-dashboards "$@"

# the services themselves
[no-exit-message]
auth *args:
    @"{{mcpgw}}" auth "$@"

[no-exit-message]
router *args:
    @"{{mcpgw}}" router "$@"

[no-exit-message]
echo *args:
    @"{{mcpgw}}" echo "$@"

# MCP fetch service: a web page as Markdown, SSRF-safe (mcp-fetch, port 3000)
[no-exit-message]
fetch *args:
    @"{{mcpgw}}" fetch "$@"

# any stdio MCP server as Streamable HTTP: just stdio-proxy --port N -- CMD ARGS...
[no-exit-message]
stdio-proxy *args:
    @"{{mcpgw}}" stdio-proxy "$@"

version:
    @"{{mcpgw}}" version
