package pgcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// errNoBinaries is the one message a developer sees on a machine without a
// server installed, so it names the fix rather than the places searched.
var errNoBinaries = errors.New("pgcluster: PostgreSQL binaries not found; install Debian's postgresql package or set PG_BIN")

// serverBinaries must all live in one directory: initdb and pg_ctl locate
// postgres next to themselves, not on PATH.
var serverBinaries = []string{"initdb", "pg_ctl", "postgres"}

// debianBinRoot is where Debian's postgresql-NN packages put the server;
// those directories are not on PATH.
const debianBinRoot = "/usr/lib/postgresql"

// findBinDir returns the directory holding initdb, pg_ctl and postgres.
func findBinDir() (string, error) {
	// An explicit PG_BIN that is wrong is an error rather than a silent
	// fallback, so nobody ends up running a version they did not ask for.
	if d := os.Getenv("PG_BIN"); d != "" {
		if err := hasServerBinaries(d); err != nil {
			return "", fmt.Errorf("pgcluster: PG_BIN=%s: %w", d, err)
		}
		return d, nil
	}
	// pg_config may come from libpq-dev alone, whose --bindir names a
	// directory without the server, hence the check.
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); d != "" && hasServerBinaries(d) == nil {
			return d, nil
		}
	}
	if d := highestVersionDir(debianBinRoot); d != "" {
		return d, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if hasServerBinaries(d) == nil {
			return d, nil
		}
	}
	return "", errNoBinaries
}

func hasServerBinaries(dir string) error {
	for _, name := range serverBinaries {
		p := filepath.Join(dir, name)
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("%s not found", p)
		}
		if st.IsDir() || st.Mode()&0o111 == 0 {
			return fmt.Errorf("%s is not executable", p)
		}
	}
	return nil
}

// highestVersionDir picks root/<version>/bin with the highest version that
// has a complete server, because several majors can be installed side by
// side during an upgrade.
func highestVersionDir(root string) string {
	matches, _ := filepath.Glob(filepath.Join(root, "*", "bin"))
	sort.Slice(matches, func(i, j int) bool {
		return versionLess(filepath.Base(filepath.Dir(matches[j])), filepath.Base(filepath.Dir(matches[i])))
	})
	for _, d := range matches {
		if hasServerBinaries(d) == nil {
			return d
		}
	}
	return ""
}

// versionLess compares dotted versions numerically ("9.6" < "15"), which a
// string sort gets wrong.
func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) || i < len(pb); i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x < y
		}
	}
	return a < b
}
