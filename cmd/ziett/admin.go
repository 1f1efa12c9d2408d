package main

import (
	"errors"
	"log/slog"
)

func runAdmin(args []string, log *slog.Logger) error {
	return errors.New("admin: not available yet")
}
