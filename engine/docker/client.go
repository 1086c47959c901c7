package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/docker/client"
	"github.com/docker/go-connections/tlsconfig"
)

// Connect opens a client to the Docker Engine the user points at, as the
// docker CLI finds it: DOCKER_HOST (with DOCKER_TLS_VERIFY and
// DOCKER_CERT_PATH), else the current docker context (DOCKER_CONTEXT, or
// currentContext in the CLI's config.json, with the context's TLS
// material), else the default socket. It pings the daemon and negotiates
// the API version, so that requests are shaped for the daemon that runs.
// Every engine that speaks the Engine API (docker, swarm) connects
// through it.
func Connect(ctx context.Context) (*client.Client, error) {
	ep, err := findEndpoint(os.Getenv, configDir())
	if err != nil {
		return nil, err
	}
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if ep.Host != "" {
		// The context's endpoint replaces the environment's host and TLS.
		opts = append(opts, client.WithHost(ep.Host))
		if ep.TLS != nil {
			cfg, err := tlsconfig.Client(*ep.TLS)
			if err != nil {
				return nil, fmt.Errorf("docker context %q: TLS: %w", ep.Context, err)
			}
			opts = append(opts, client.WithHTTPClient(&http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, CheckRedirect: client.CheckRedirect}))
		}
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	ping, err := cli.Ping(ctx)
	if err != nil {
		host := cli.DaemonHost()
		cli.Close()
		where := host
		if ep.Context != "" {
			where = fmt.Sprintf("%s (docker context %q)", host, ep.Context)
		}
		return nil, fmt.Errorf("cannot reach the Docker Engine at %s: is dockerd running?: %w", where, err)
	}
	cli.NegotiateAPIVersionPing(ping)
	return cli, nil
}

// daemonEndpoint is where a docker context points; Host "" leaves the choice
// to the environment (DOCKER_HOST or the default socket).
type daemonEndpoint struct {
	Context string
	Host    string
	TLS     *tlsconfig.Options
}

// configDir is the docker CLI's configuration directory.
func configDir() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".docker")
}

// findEndpoint applies the docker CLI's precedence: DOCKER_HOST wins, then
// DOCKER_CONTEXT, then the config's current context; "default" is the
// environment's. A context is stored under contexts/meta/<sha256 of its
// name>/meta.json, its TLS files under contexts/tls/<same>/docker/.
func findEndpoint(getenv func(string) string, dir string) (daemonEndpoint, error) {
	if getenv("DOCKER_HOST") != "" {
		return daemonEndpoint{}, nil
	}
	name := getenv("DOCKER_CONTEXT")
	if name == "" && dir != "" {
		b, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return daemonEndpoint{}, fmt.Errorf("read docker config: %w", err)
		}
		if err == nil {
			var cfg struct {
				CurrentContext string `json:"currentContext"`
			}
			if err := json.Unmarshal(b, &cfg); err != nil {
				return daemonEndpoint{}, fmt.Errorf("read docker config %s: %w", filepath.Join(dir, "config.json"), err)
			}
			name = cfg.CurrentContext
		}
	}
	if name == "" || name == "default" {
		return daemonEndpoint{}, nil
	}
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	b, err := os.ReadFile(filepath.Join(dir, "contexts", "meta", id, "meta.json"))
	if err != nil {
		return daemonEndpoint{}, fmt.Errorf("docker context %q: %w; list them with docker context ls", name, err)
	}
	var meta struct {
		Endpoints map[string]struct {
			Host          string
			SkipTLSVerify bool
		}
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return daemonEndpoint{}, fmt.Errorf("docker context %q: %w", name, err)
	}
	d, ok := meta.Endpoints["docker"]
	if !ok || d.Host == "" {
		return daemonEndpoint{}, fmt.Errorf("docker context %q has no docker endpoint", name)
	}
	if strings.HasPrefix(d.Host, "ssh://") {
		return daemonEndpoint{}, fmt.Errorf("docker context %q: %s: ssh endpoints are not supported; forward the socket (ssh -L) and use its unix:// or tcp:// address", name, d.Host)
	}
	ep := daemonEndpoint{Context: name, Host: d.Host}
	tlsDir := filepath.Join(dir, "contexts", "tls", id, "docker")
	files := map[string]string{}
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if _, err := os.Stat(filepath.Join(tlsDir, f)); err == nil {
			files[f] = filepath.Join(tlsDir, f)
		}
	}
	if len(files) > 0 || d.SkipTLSVerify {
		ep.TLS = &tlsconfig.Options{CAFile: files["ca.pem"], CertFile: files["cert.pem"], KeyFile: files["key.pem"], InsecureSkipVerify: d.SkipTLSVerify, ExclusiveRootPools: files["ca.pem"] != ""}
	}
	return ep, nil
}
