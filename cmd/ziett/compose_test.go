package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"

	"ziett.co/campaigns/cmd/service"
)

// loadCompose loads docker-compose.yml with compose-go, the loader of
// `docker compose` itself: the Compose schema, interpolation, anchors and
// merge keys, and its consistency checks (depends_on targets exist, and
// so on).
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	p, err := loader.LoadWithContext(t.Context(), types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, "docker-compose.yml")}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) { o.SetProjectName("ziett", true) })
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return p
}

// components returns the components a service runs with `serve`, or nil.
func components(t *testing.T, s types.ServiceConfig) []string {
	if len(s.Command) == 0 || s.Command[0] != "serve" {
		return nil
	}
	i := slices.Index(s.Command, "-components")
	if i < 0 || i+1 >= len(s.Command) {
		t.Errorf("service %s runs serve without -components", s.Name)
		return nil
	}
	return strings.Split(s.Command[i+1], ",")
}

// docker-compose.yml cannot be started on every machine, so its promises
// are checked here: every component runs in some service; each one waits
// for healthy Kafka and Postgres and has a healthcheck asking /readyz;
// every depends_on has a condition a healthcheck can meet; Kafka writes
// its log to the volume mounted for it; Prometheus scrapes every service
// that runs a component.
func TestComposeFileIsValid(t *testing.T) {
	p := loadCompose(t)
	ran := map[string]bool{}
	var ziettServices []string
	for name, s := range p.Services {
		comps := components(t, s)
		if comps == nil {
			continue
		}
		ziettServices = append(ziettServices, name)
		for _, c := range comps {
			if !slices.Contains(service.All, c) {
				t.Errorf("service %s runs unknown component %q", name, c)
			}
			ran[c] = true
		}
		hc := s.HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Test[0] != "CMD" || !slices.Contains(hc.Test, "probe") {
			t.Errorf("service %s: healthcheck %+v; want [CMD ziett probe] (GET /readyz)", name, hc)
		}
		for _, dep := range []string{"kafka", "postgres"} {
			if d, ok := s.DependsOn[dep]; !ok || d.Condition != types.ServiceConditionHealthy {
				t.Errorf("service %s: depends_on %s = %+v; want condition service_healthy", name, dep, d)
			}
		}
	}
	for _, c := range service.All {
		if !ran[c] {
			t.Errorf("no service runs component %s", c)
		}
	}
	for name, s := range p.Services {
		for dep, d := range s.DependsOn {
			switch d.Condition {
			case types.ServiceConditionHealthy:
				if ds, ok := p.Services[dep]; !ok || ds.HealthCheck == nil || ds.HealthCheck.Disable {
					t.Errorf("service %s waits for %s to be healthy, which has no healthcheck", name, dep)
				}
			case types.ServiceConditionStarted, types.ServiceConditionCompletedSuccessfully:
			default:
				t.Errorf("service %s: depends_on %s without a condition", name, dep)
			}
		}
		if s.HealthCheck == nil && name != "grafana" {
			t.Errorf("service %s has no healthcheck", name)
		}
	}

	kafka := p.Services["kafka"]
	logDirs := kafka.Environment["KAFKA_LOG_DIRS"]
	if logDirs == nil {
		t.Fatal("kafka: KAFKA_LOG_DIRS is not set; the broker writes its log under /tmp in the container")
	}
	for _, dir := range strings.Split(*logDirs, ",") {
		if !slices.ContainsFunc(kafka.Volumes, func(v types.ServiceVolumeConfig) bool {
			return v.Type == types.VolumeTypeVolume && (dir == v.Target || strings.HasPrefix(dir, v.Target+"/"))
		}) {
			t.Errorf("kafka: log directory %s is not on a named volume (volumes %+v)", dir, kafka.Volumes)
		}
	}

	// Prometheus finds the replicas of each service by its DNS name.
	raw, err := os.ReadFile("../../deploy/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var prom struct {
		ScrapeConfigs []struct {
			JobName      string `yaml:"job_name"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(raw, &prom); err != nil {
		t.Fatalf("deploy/prometheus.yml: %v", err)
	}
	scraped := map[string]bool{}
	for _, sc := range prom.ScrapeConfigs {
		for _, d := range sc.DNSSDConfigs {
			for _, n := range d.Names {
				scraped[n] = d.Port == 8080
			}
		}
	}
	for _, name := range ziettServices {
		if !scraped[name] {
			t.Errorf("deploy/prometheus.yml does not scrape service %s on port 8080", name)
		}
	}
	if p.Services["prometheus"].Volumes == nil {
		t.Error("prometheus mounts no configuration")
	}
}

// promtool finds Prometheus's own checker: on PATH, or unpacked by .ci/run
// into .ci/promtool. Missing, the test is skipped on a development machine
// and fails in CI.
func promtool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	p, err := filepath.Abs("../../.ci/promtool/usr/bin/promtool")
	if err == nil {
		if _, err = os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("promtool is required in CI (.ci/run unpacks it from Debian's prometheus package): %v", err)
	}
	t.Skipf("promtool not found (%v); .ci/run unpacks it", err)
	return ""
}

// The monitoring configuration passes promtool: the scrape configuration
// and the alerting rules it loads are valid, and the rules' unit tests
// (deploy/alerts_test.yml) pass.
func TestPrometheusConfigPassesPromtool(t *testing.T) {
	bin := promtool(t)
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		cmd := exec.CommandContext(t.Context(), bin, args...)
		cmd.Dir = "../../deploy"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
