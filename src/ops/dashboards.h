/*
 * dashboards.h - `mcpgw import-dashboards` (the guide's `just import-dashboards`): the Grafana
 * dashboards in DASHBOARDS_DIR (every *.json in monitoring/dashboards) into the Grafana at GRAFANA_URL,
 * through Grafana's folder and dashboard HTTP API with GRAFANA_API_KEY as Bearer token.
 *
 * Every dashboard goes into the folder "mcpgw" (uid "mcpgw", created when missing) with
 * overwrite, keyed by its own uid: importing again updates the same dashboards. Exit codes:
 * 0 all imported, 1 a dashboard was refused, a file is not a dashboard, or Grafana could not be
 * reached or refused the token, 2 usage, 78 configuration (GRAFANA_URL or GRAFANA_API_KEY unset).
 */
#ifndef MCPGW_OPS_DASHBOARDS_H
#define MCPGW_OPS_DASHBOARDS_H

int import_dashboards_main(int argc, char **argv);

#endif
