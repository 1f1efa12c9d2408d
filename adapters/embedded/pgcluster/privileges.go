package pgcluster

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// runAs is the unprivileged account the server runs under when we are root.
type runAs struct {
	name     string
	uid, gid uint32
}

// serverUser returns nil when the current user can run PostgreSQL itself.
// postgres refuses to start as root (a compromised server must not own the
// machine), so under root — CI containers, sandboxes — we drop to the
// Debian package's "postgres" account if it exists, else to "nobody".
func serverUser() (*runAs, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		return &runAs{name: name, uid: uint32(uid), gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("pgcluster: running as root and neither a postgres nor a nobody user exists to run the server as")
}

func (u *runAs) sysProcAttr() *syscall.SysProcAttr {
	// Setpgid keeps the daemon out of the terminal's foreground process
	// group, so Ctrl-C reaches only us and Stop decides when the server goes.
	attr := &syscall.SysProcAttr{Setpgid: true}
	if u != nil {
		// An empty Groups list drops root's supplementary groups too.
		attr.Credential = &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: []uint32{}}
	}
	return attr
}

// chownTree hands dir to the server user; earlier runs as another user (or
// files we wrote as root) would otherwise make initdb or postgres fail on
// permissions.
func (u *runAs) chownTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(u.uid), int(u.gid))
	})
}

// checkTraversable fails early with a readable message when the server user
// cannot reach dir; postgres would otherwise report a bare "permission
// denied" deep inside its log, or pg_ctl would just time out.
func (u *runAs) checkTraversable(dir string) error {
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if ok && !searchable(st.Mode(), sys.Uid, sys.Gid, u.uid, u.gid) {
			return fmt.Errorf("pgcluster: %s is not traversable by user %s (uid %d), which runs PostgreSQL because the server refuses to run as root; "+
				"make it traversable (chmod o+x %s) or put the cluster directory elsewhere (e.g. under /tmp)", p, u.name, u.uid, p)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

func searchable(mode fs.FileMode, ownerUID, ownerGID, uid, gid uint32) bool {
	switch {
	case ownerUID == uid:
		return mode&0o100 != 0
	case ownerGID == gid:
		return mode&0o010 != 0
	default:
		return mode&0o001 != 0
	}
}
