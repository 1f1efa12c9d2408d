package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
)

// versionInfo is what --version prints: the module's version and the VCS
// revision the binary was built from, from its build information.
type versionInfo struct {
	Module    string `json:"module"`
	Version   string `json:"version"`
	Revision  string `json:"vcs_revision,omitempty"`
	Time      string `json:"vcs_time,omitempty"`
	Modified  bool   `json:"vcs_modified"`
	GoVersion string `json:"go_version"`
}

func buildVersion() versionInfo {
	v := versionInfo{Module: "ziett.co/campaigns", Version: "(unknown)"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.Module, v.Version, v.GoVersion = bi.Main.Path, bi.Main.Version, bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func printVersion(w io.Writer, asJSON bool) error {
	v := buildVersion()
	if asJSON {
		return json.NewEncoder(w).Encode(v)
	}
	rev := v.Revision
	if rev == "" {
		rev = "unknown revision"
	}
	if v.Modified {
		rev += " (modified)"
	}
	if v.Time != "" {
		rev += " " + v.Time
	}
	_, err := fmt.Fprintf(w, "ziett %s %s, %s, %s\n", v.Version, v.Module, rev, v.GoVersion)
	return err
}
