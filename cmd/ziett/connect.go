package main

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"ziett.co/campaigns/adapters/postgres"
	"ziett.co/campaigns/cmd/internal/cli"
)

// target is where the operator commands (admin, audit, projections) find
// the service's Kafka and Postgres.
type target struct {
	DatabaseURL string
	Brokers     []string
}

// brokerFile, in the data directory, records where `ziett dev`'s embedded
// broker listens, so the other commands find it whatever ZIETT_KAFKA_ADDR
// it was started with.
const brokerFile = "broker.addr"

// resolveTarget uses DATABASE_URL and KAFKA_BROKERS when set. Otherwise it
// points at a running `ziett dev`: its private Postgres listens on the port
// recorded in $ZIETT_DATA_DIR/postgres/port (database "ziett", user
// postgres) and its broker at the address in $ZIETT_DATA_DIR/broker.addr
// ($ZIETT_KAFKA_ADDR overrides it).
func resolveTarget() (target, error) {
	t := target{DatabaseURL: os.Getenv("DATABASE_URL"), Brokers: cli.SplitList(os.Getenv("KAFKA_BROKERS"))}
	dataDir, err := filepath.Abs(env("ZIETT_DATA_DIR", "./var"))
	if err != nil {
		return t, err
	}
	if len(t.Brokers) == 0 {
		addr := os.Getenv("ZIETT_KAFKA_ADDR")
		if raw, err := os.ReadFile(filepath.Join(dataDir, brokerFile)); addr == "" && err == nil {
			addr = strings.TrimSpace(string(raw))
		}
		t.Brokers = cli.SplitList(cmp.Or(addr, "127.0.0.1:9092"))
	}
	if t.DatabaseURL != "" {
		return t, nil
	}
	portFile := filepath.Join(dataDir, "postgres", "port")
	raw, err := os.ReadFile(portFile)
	if err != nil {
		return t, fmt.Errorf("no DATABASE_URL and no running `ziett dev` found (%w); set DATABASE_URL or ZIETT_DATA_DIR", err)
	}
	port, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || port <= 0 || port > 65535 {
		return t, fmt.Errorf("%s does not hold a port number", portFile)
	}
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path: "/ziett", RawQuery: "sslmode=disable"}
	t.DatabaseURL = u.String()
	return t, nil
}

// openDB connects to the target's database and brings its schema up to
// date, as the service itself does when it starts.
func (t target) openDB(ctx context.Context) (*pgxpool.Pool, error) {
	db, err := postgres.Open(ctx, t.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return db, nil
}
