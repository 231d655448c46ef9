#!/usr/bin/env bash
# ensure-promtool.sh makes sure `promtool` (from Prometheus) is on PATH, so
# the alerting-rule tests in internal/rulestest can run the real
# `promtool check rules` and `promtool test rules`.
#
# Idempotent and quiet: when promtool is already installed it does nothing
# and prints nothing. Otherwise, as root on a Debian-like system, it installs
# Debian's `prometheus` package (which ships promtool) with apt-get, without
# starting the Prometheus server that comes with it. As any other user it
# says how to install promtool and exits non-zero.
#
# Exit status: 0 when promtool is available afterwards, 1 otherwise.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

have promtool && exit 0

if [ "$(id -u)" = 0 ] && have apt-get; then
	echo "ensure-promtool.sh: installing promtool (Debian package prometheus)" >&2
	export DEBIAN_FRONTEND=noninteractive
	log=$(mktemp)
	# A policy-rc.d that denies every service start keeps the package from
	# starting a Prometheus server; it is only added when there is none, and
	# removed again on any exit.
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
		echo "ensure-promtool.sh: apt-get update failed" >&2
		exit 1
	fi
	if [ ! -e "$policy" ]; then
		added_policy=1
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
	fi
	if ! apt-get install -y -qq --no-install-recommends prometheus >"$log" 2>&1; then
		cat "$log" >&2
		echo "ensure-promtool.sh: apt-get install prometheus failed" >&2
		exit 1
	fi
fi

have promtool && exit 0

cat >&2 <<'EOF'
ensure-promtool.sh: promtool is not installed, and the alerting-rule tests
(internal/rulestest, internal/deploytest) need it. Install it with one of:
  sudo apt-get install -y prometheus    # Debian/Ubuntu: ships promtool
  brew install prometheus               # macOS
or put a promtool release binary on PATH.
EOF
exit 1
