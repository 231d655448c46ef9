#!/usr/bin/env bash
# ensure-prometheus.sh makes sure the Prometheus tools the tests run are on
# PATH: promtool (the alert rule and PromQL checks in internal/deploytest),
# the Prometheus server and Alertmanager (`prometheus-alertmanager`, Debian's
# name, or `alertmanager`; the end-to-end alerting test in cmd/aggregator).
#
# Idempotent and quiet: when all are installed it does nothing and prints
# nothing. Otherwise, as root on a Debian-like system, it installs the
# missing Debian packages (`prometheus`, `prometheus-alertmanager`) with
# apt-get, without starting the services that come with them. As any other
# user it says how to install them and exits non-zero.
#
# Exit status: 0 when all are available afterwards, 1 otherwise.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
have_alertmanager() { have prometheus-alertmanager || have alertmanager; }

missing() {
	local pkgs=()
	{ have prometheus && have promtool; } || pkgs+=(prometheus)
	have_alertmanager || pkgs+=(prometheus-alertmanager)
	echo "${pkgs[@]}"
}

pkgs=$(missing)
[ -z "$pkgs" ] && exit 0

if [ "$(id -u)" = 0 ] && have apt-get; then
	echo "ensure-prometheus.sh: installing $pkgs (Debian packages)" >&2
	export DEBIAN_FRONTEND=noninteractive
	log=$(mktemp)
	# A policy-rc.d that denies every service start keeps the packages from
	# starting a Prometheus server or an Alertmanager; it is only added when
	# there is none, and removed again on any exit.
	policy=/usr/sbin/policy-rc.d
	added_policy=0
	cleanup() {
		rm -f "$log"
		if [ "$added_policy" = 1 ]; then rm -f "$policy"; fi
	}
	trap cleanup EXIT
	# apt's chatter goes to the log, shown only when something fails.
	if ! apt-get update -qq >"$log" 2>&1; then
		cat "$log" >&2
		echo "ensure-prometheus.sh: apt-get update failed" >&2
		exit 1
	fi
	if [ ! -e "$policy" ]; then
		added_policy=1
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
	fi
	# shellcheck disable=SC2086 # $pkgs is a list of package names
	if ! apt-get install -y -qq --no-install-recommends $pkgs >"$log" 2>&1; then
		cat "$log" >&2
		echo "ensure-prometheus.sh: apt-get install $pkgs failed" >&2
		exit 1
	fi
fi

pkgs=$(missing)
[ -z "$pkgs" ] && exit 0

cat >&2 <<EOF
ensure-prometheus.sh: missing $pkgs. The tests run promtool
(internal/deploytest), the Prometheus server and Alertmanager
(TestEndToEndAlerting in cmd/aggregator). Install them with one of:
  sudo apt-get install -y prometheus prometheus-alertmanager   # Debian/Ubuntu
  brew install prometheus alertmanager                         # macOS
or put the release binaries (promtool, prometheus, alertmanager) on PATH.
EOF
exit 1
