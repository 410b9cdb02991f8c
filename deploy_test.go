package reos_test

// No Docker engine runs where the tests run, so the compose file is checked
// by loading it with compose-go, the loader docker compose itself uses.

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/real-estate-os/reos/system/config"
)

func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{"docker-compose.yml"}, cli.WithEnv(nil), cli.WithName("reos"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return p
}

func TestComposeServices(t *testing.T) {
	p := loadCompose(t)
	want := map[string]string{ // service → published port on loopback
		"postgres": "5432", "redis": "6379", "rabbitmq": "5672", "mailpit": "8025", "gotenberg": "3000", "api": "8000",
		"mock-twilio": "8081", "s3": "9000", "nginx": "8080",
	}
	for name, port := range want {
		svc, ok := p.Services[name]
		if !ok {
			t.Errorf("service %s is missing", name)
			continue
		}
		if svc.HealthCheck == nil || len(svc.HealthCheck.Test) == 0 || svc.HealthCheck.Disable {
			t.Errorf("service %s has no health check", name)
		}
		published := false
		for _, pc := range svc.Ports {
			if pc.Published == port {
				published = true
				if pc.HostIP != "127.0.0.1" {
					t.Errorf("service %s publishes %s on %q, want loopback only", name, port, pc.HostIP)
				}
			}
		}
		if !published {
			t.Errorf("service %s does not publish port %s", name, port)
		}
	}
}

func TestComposeStartOrder(t *testing.T) {
	api := loadCompose(t).Services["api"]
	for _, dep := range []string{"postgres", "redis", "rabbitmq", "mailpit", "mock-twilio", "s3"} {
		d, ok := api.DependsOn[dep]
		if !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("api depends_on %s = %+v, want condition service_healthy", dep, d)
		}
	}
	if api.Build == nil || api.Build.Context == "" {
		t.Errorf("api is not built from the repository's Dockerfile")
	}
}

// TestComposeVariablesAreKnown keeps the compose file and the configuration
// from drifting apart: every variable the api service sets must be one reos
// reads, with a value it accepts.
func TestComposeVariablesAreKnown(t *testing.T) {
	api := loadCompose(t).Services["api"]
	known := map[string]bool{}
	for _, v := range config.Vars {
		known[v.Name] = true
	}
	env := map[string]string{}
	for k, v := range api.Environment {
		if !known[k] {
			t.Errorf("api sets %s, which reos does not read", k)
		}
		if v != nil {
			env[k] = *v
		}
	}
	if _, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Errorf("the api service's environment is refused: %v", err)
	}
	if !slices.Equal(api.Command, types.ShellCommand{"up"}) {
		t.Errorf("api command = %v, want [up]", api.Command)
	}
}

// TestComposeMocksAgreeWithTheAPI checks that the mock Twilio accepts the
// credentials the API sends, and that each stand-in runs a reos command.
func TestComposeMocksAgreeWithTheAPI(t *testing.T) {
	p := loadCompose(t)
	api, twilio := p.Services["api"], p.Services["mock-twilio"]
	for _, k := range []string{"TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER"} {
		if a, m := api.Environment[k], twilio.Environment[k]; a == nil || m == nil || *a != *m {
			t.Errorf("%s differs between api and mock-twilio", k)
		}
	}
	for name, want := range map[string]types.ShellCommand{"mock-twilio": {"mock", "twilio"}, "s3": {"mock", "s3"}} {
		if got := p.Services[name].Command; !slices.Equal(got, want) {
			t.Errorf("%s command = %v, want %v", name, got, want)
		}
	}
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{"AS build", "go build", "./cmd/reos", "HEALTHCHECK", `"probe"`, "USER nonroot", `ENTRYPOINT ["/usr/local/bin/reos"]`} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if strings.Count(df, "\nFROM ") < 2 {
		t.Errorf("Dockerfile is not multi-stage")
	}
}

func TestComposeNginxUsesTheRepositoryConfig(t *testing.T) {
	n := loadCompose(t).Services["nginx"]
	if d, ok := n.DependsOn["api"]; !ok || d.Condition != types.ServiceConditionHealthy {
		t.Errorf("nginx depends_on api = %+v", d)
	}
	mounted := false
	for _, v := range n.Volumes {
		mounted = mounted || strings.HasSuffix(v.Source, "deploy/nginx/reos.conf.template")
	}
	tmpl, err := os.ReadFile("deploy/nginx/reos.conf.template")
	if !mounted || err != nil {
		t.Fatalf("nginx does not mount deploy/nginx/reos.conf.template (%v)", err)
	}
	for _, k := range []string{"REOS_UPSTREAM", "REOS_LISTEN", "REOS_SSE_READ_TIMEOUT"} {
		if n.Environment[k] == nil || !strings.Contains(string(tmpl), "${"+k+"}") {
			t.Errorf("%s is not both set for nginx and used by the template", k)
		}
	}
	for _, want := range []string{"proxy_buffering off", "proxy_read_timeout ${REOS_SSE_READ_TIMEOUT}"} {
		if !strings.Contains(string(tmpl), want) {
			t.Errorf("the template lacks %q", want)
		}
	}
}
