package main

// The build: -version and the helpdesk_build_info gauge.

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// version and revision are stamped by the build:
//
//	go build -ldflags "-X main.version=v1.2.0 -X main.revision=$(git rev-parse HEAD)"
//
// Left empty, they come from the module version and the VCS stamping of
// `go build` in a Git checkout (runtime/debug.ReadBuildInfo).
var (
	version  string
	revision string
)

// build is what is known about this binary.
type build struct {
	Version   string // v1.2.0, or devel for an untagged build
	Revision  string // the VCS commit, with -dirty for uncommitted changes; unknown without VCS stamping
	GoVersion string
}

// currentBuild reads the build of the running binary.
func currentBuild() build {
	info, ok := debug.ReadBuildInfo()
	return buildFrom(info, ok, version, revision)
}

// buildFrom combines the stamped version and revision (which win) with
// the build info.
func buildFrom(info *debug.BuildInfo, ok bool, stampedVersion, stampedRevision string) build {
	b := build{Version: stampedVersion, Revision: stampedRevision, GoVersion: runtime.Version()}
	if !ok || info == nil {
		info = &debug.BuildInfo{}
	}
	if info.GoVersion != "" {
		b.GoVersion = info.GoVersion
	}
	if b.Version == "" {
		if v := info.Main.Version; v != "" && v != "(devel)" {
			b.Version = v
		} else {
			b.Version = "devel"
		}
	}
	if b.Revision == "" {
		var rev string
		var modified bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		switch {
		case rev == "":
			b.Revision = "unknown"
		case modified:
			b.Revision = rev + "-dirty"
		default:
			b.Revision = rev
		}
	}
	return b
}

func (b build) String() string {
	return fmt.Sprintf("aggregator %s (revision %s, %s)", b.Version, b.Revision, b.GoVersion)
}

// newBuildInfo is the gauge helpdesk_build_info{version,revision,goversion}
// = 1.
func newBuildInfo(b build) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "helpdesk_build_info",
		Help:        "Always 1: the aggregator's version, VCS revision and Go version, in labels.",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "goversion": b.GoVersion},
	})
	g.Set(1)
	return g
}
