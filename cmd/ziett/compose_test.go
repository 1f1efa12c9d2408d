package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"

	"ziett.co/campaigns/adapters/stack"
)

// docker-compose.yml cannot be started on every machine, so this keeps it
// valid: strict YAML (a repeated key is an error, as for docker compose),
// every ziett service runs `serve` with components that exist, and every
// component runs somewhere.
func TestComposeFileIsValid(t *testing.T) {
	src, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]struct {
			Image   string   `yaml:"image"`
			Command []string `yaml:"command"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(src, &f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	ran := map[string]bool{}
	for name, s := range f.Services {
		if len(s.Command) == 0 || s.Command[0] != "serve" {
			continue
		}
		i := slices.Index(s.Command, "-components")
		if i < 0 || i+1 >= len(s.Command) {
			t.Errorf("service %s runs serve without -components", name)
			continue
		}
		for _, c := range strings.Split(s.Command[i+1], ",") {
			if !slices.Contains(stack.All, c) {
				t.Errorf("service %s runs unknown component %q", name, c)
			}
			ran[c] = true
		}
	}
	for _, c := range stack.All {
		if !ran[c] {
			t.Errorf("no service runs component %s", c)
		}
	}
}
