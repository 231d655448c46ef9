#!/usr/bin/env bash
# The project's one test command. It installs what the tests need on a
# fresh Debian machine with Go (a C compiler for the race detector,
# Prometheus's promtool for the alert rule tests, and the Prometheus server
# and Alertmanager for the end-to-end alerting test), then vets, lints
# (golangci-lint, built by `go run` at a fixed version, so nothing is
# installed by hand; .golangci.yml says which linters) and runs every test
# under the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."

have() { command -v "$1" >/dev/null 2>&1; }

# apt_install installs Debian packages when this user may; otherwise it
# says what to install and fails.
apt_install() {
	if [ "$(id -u)" = 0 ] && have apt-get; then
		echo "test.sh: installing $* (Debian packages)" >&2
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
	else
		echo "test.sh: please install $* (for example: sudo apt-get install -y $*)" >&2
		return 1
	fi
}

# The race detector needs cgo, so a C compiler.
have gcc || apt_install gcc libc6-dev
# curl and grep run the README's commands in TestReadmeCommands.
have curl || apt_install curl
# promtool for the alert rule and PromQL checks (internal/deploytest), the
# Prometheus server and Alertmanager for the end-to-end alerting test.
./scripts/ensure-prometheus.sh

export CGO_ENABLED=1
go vet ./...
go run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0 run ./...
go test -race -count=1 -timeout 15m ./...
# The largest tests shrink under the race detector; run them at full size.
go test -count=1 -timeout 5m -run 'TestTrackedLimit' ./internal/kpi
