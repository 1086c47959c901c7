package compose

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func loadString(t *testing.T, yaml string) error {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(context.Background(), Options{Files: []string{f}, Name: "t"})
	if err != nil {
		// Paths outside the cwd are printed absolute; compare from the base name.
		return &shortErr{strings.ReplaceAll(err.Error(), f, "compose.yaml")}
	}
	return nil
}

var reTempPath = regexp.MustCompile(`(build context |env_file )/\S*/([^/\s]+)`)

type shortErr struct{ s string }

func (e *shortErr) Error() string { return e.s }

func TestLoadErrors(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"broken yaml", "services:\n  web:\n    image: x\n  bad: [\n",
			`compose.yaml:4: invalid YAML: while parsing a flow node: did not find expected node content; fix the syntax (indentation, a missing ':' or an unclosed bracket)`},
		{"bad indent", "services:\n  web:\n    image: x\n   init: true\n",
			`compose.yaml:4: invalid YAML: while parsing a block mapping: did not find expected key; fix the syntax (indentation, a missing ':' or an unclosed bracket)`},
		{"unclosed flow", "services:\n  web:\n    image: [x\n",
			`compose.yaml:3: invalid YAML: while parsing a flow sequence: did not find expected ',' or ']'; fix the syntax (indentation, a missing ':' or an unclosed bracket)`},
		{"tab", "services:\n  web:\n\timage: x\n",
			`compose.yaml:3: invalid YAML: while scanning for the next token: found character that cannot start any token; fix the syntax (indentation, a missing ':' or an unclosed bracket)`},
		{"mapping value", "services:\n  web: x: y\n",
			`compose.yaml:2: invalid YAML: mapping values are not allowed in this context; fix the syntax (indentation, a missing ':' or an unclosed bracket)`},
		{"unknown dependency", "services:\n  web:\n    image: x\n    depends_on: [api]\n",
			`compose.yaml:4: service "web": depends_on names "api", which is not a service of this project; define service "api", enable its profile, or remove it from depends_on`},
		{"cycle", "services:\n  web:\n    image: x\n    depends_on: [api]\n  api:\n    image: y\n    depends_on: [web]\n",
			`compose.yaml:7: service "api": dependency cycle: api -> web -> api; remove one of these depends_on entries`},
		{"restart", "services:\n  web:\n    image: x\n    restart: sometimes\n",
			`compose.yaml:4: service "web": restart "sometimes" is not a restart policy; use "no", "always", "on-failure[:N]" or "unless-stopped"`},
		{"logging size", "services:\n  web:\n    image: x\n    logging:\n      options:\n        max-size: lots\n",
			`compose.yaml:5: service "web": logging option max-size "lots" is not a size; use a number with k, m or g, such as 10m`},
		{"unknown key", "services:\n  web:\n    image: x\n    imagee: y\n",
			`compose.yaml:4: service "web": imagee is not allowed here; it is not part of the compose specification: check its spelling and indentation`},
		{"bad port", "services:\n  web:\n    image: x\n    ports: [\"99999:80\"]\n",
			`compose.yaml:4: service "web": ports: invalid hostPort "99999"; use "[HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTO]" with ports from 1 to 65535`},
		{"missing context", "services:\n  web:\n    build: ./nope\n",
			`compose.yaml:3: service "web": build context CTX/nope does not exist or is not a directory; fix build.context (it is relative to the compose file)`},
		{"undefined network", "services:\n  web:\n    image: x\n    networks: [back]\n",
			`compose.yaml:4: service "web": uses network "back", which is not declared; declare it under top-level networks: or fix the name`},
		{"bad size", "services:\n  web:\n    image: x\n    mem_limit: lots\n",
			`compose.yaml:4: service "web": mem_limit: invalid size: 'lots'; use a size such as 512m or 2g`},
		{"bad duration", "services:\n  web:\n    image: x\n    stop_grace_period: soon\n",
			`compose.yaml:4: service "web": stop_grace_period: time: invalid duration "soon"; use a duration such as 10s or 1m30s`},
		{"bad command", "services:\n  web:\n    image: x\n    command: \"echo 'oops\"\n",
			`compose.yaml:4: service "web": command: invalid command line string; close its quotes, or write it as a list: ["cmd", "arg"]`},
		{"missing env_file", "services:\n  web:\n    image: x\n    env_file: [{path: data-missing.env, required: false}]\n  api:\n    image: x\n    env_file: [missing.env]\n",
			`compose.yaml:7: service "api": env_file CTX/missing.env does not exist; create it, fix the path (it is relative to the project directory), or make it optional: {path: ..., required: false}`},
		{"dotted service", "services:\n  web:\n    image: x\n  web.v2:\n    image: x\n    mem_limit: lots\n",
			`compose.yaml:6: service "web.v2": mem_limit: invalid size: 'lots'; use a size such as 512m or 2g`},
		{"device rule", "services:\n  web:\n    image: x\n    device_cgroup_rules: [\"c 1:3 rw\", \"c 1-3 rwx\"]\n",
			`compose.yaml:4: service "web": device rule "c 1-3 rwx": numbers must be MAJOR:MINOR; write TYPE MAJOR:MINOR ACCESS, as in "c 1:3 rwm"`},
		{"device permissions", "services:\n  web:\n    image: x\n    devices: [\"/dev/fuse:/dev/fuse:rwx\"]\n",
			`compose.yaml:4: service "web": device /dev/fuse: permissions "rwx"; use letters of rwm, as /dev/fuse:/dev/fuse:rw`},
		{"required variable", "services:\n  web:\n    image: ${IMG:?set IMG}\n",
			`compose.yaml:3: service "web": services.web.image: required variable IMG is missing a value: set IMG; set it in the environment or in .env`},
		{"volume spec", "services:\n  web:\n    image: x\n  db:\n    image: y\n    volumes:\n      - ./data:/data\n      - \"::::\"\n",
			`compose.yaml:8: service "db": volumes: "::::": empty section between colons; use [SOURCE:]TARGET[:MODE], as in ./data:/data:ro`},
		{"no image", "services:\n  web:\n    image: x\n  db:\n    command: echo\n",
			`compose.yaml:4: service "db": has neither image nor build; add image: or build:`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := loadString(t, c.yaml)
			if err == nil {
				t.Fatal("no error")
			}
			got := err.Error()
			// The temporary directory, as CTX.
			got = reTempPath.ReplaceAllString(got, "${1}CTX/${2}")
			if got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
			if strings.Contains(got, "\n") {
				t.Errorf("error is not one line: %q", got)
			}
		})
	}
}

func TestLoadDefaults(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("compose.yaml", "services:\n  web:\n    image: ${IMG:-busybox}\n  dbg:\n    image: x\n    profiles: [debug]\n")
	write("compose.override.yaml", "services:\n  web:\n    environment: [A=1]\n")
	write(".env", "IMG=fromdotenv\nCOMPOSE_PROJECT_NAME=fromenv\n")
	t.Chdir(dir)
	p, err := Load(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "fromenv" {
		t.Errorf("name %q", p.Name)
	}
	web := p.Services["web"]
	if web.Image != "fromdotenv" || web.Environment["A"] == nil {
		t.Errorf("web %+v", web)
	}
	if _, ok := p.Services["dbg"]; ok {
		t.Error("profile service enabled")
	}
	p, err = Load(context.Background(), Options{Environ: []string{"COMPOSE_PROFILES=debug"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Services["dbg"]; !ok {
		t.Error("COMPOSE_PROFILES ignored")
	}
}

func TestHashStable(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "compose.yaml")
	os.WriteFile(f, []byte("services:\n  a:\n    image: x\n    scale: 1\n"), 0o644)
	p1, err := Load(context.Background(), Options{Files: []string{f}, Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(f, []byte("services:\n  a:\n    image: x\n    scale: 3\n    depends_on: []\n"), 0o644)
	p2, err := Load(context.Background(), Options{Files: []string{f}, Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	h1, _ := ServiceHash(p1.Services["a"])
	h2, _ := ServiceHash(p2.Services["a"])
	if h1 != h2 {
		t.Error("scale changes the hash")
	}
	s := p1.Services["a"]
	s.Environment = map[string]*string{"X": nil}
	h3, _ := ServiceHash(s)
	if h3 == h1 {
		t.Error("environment does not change the hash")
	}
}

// Secrets and configs are given to containers without swarm (a mount of
// the file, or the content written in): what cannot work is refused at
// load, located at the top-level entry.
func TestSecretAndConfigErrors(t *testing.T) {
	t.Setenv("HOIST_TEST_UNSET_TOKEN", "")
	os.Unsetenv("HOIST_TEST_UNSET_TOKEN")
	for name, c := range map[string]struct{ yaml, want string }{
		"missing file": {"services:\n  web:\n    image: x\n    secrets: [pw]\nsecrets:\n  pw:\n    file: ./nope.txt\n",
			`^compose.yaml:6: secret "pw": file /.*/nope.txt does not exist; create it or fix secrets.pw.file \(it is relative to the compose file\)$`},
		"unset environment": {"services:\n  web:\n    image: x\n    secrets: [tok]\nsecrets:\n  tok:\n    environment: HOIST_TEST_UNSET_TOKEN\n",
			`^compose.yaml:6: secret "tok": environment variable HOIST_TEST_UNSET_TOKEN is not set; set it in the environment or in .env$`},
		"external config": {"services:\n  web:\n    image: x\n    configs: [c]\nconfigs:\n  c:\n    external: true\n",
			`^compose.yaml:6: config "c" is external \(a swarm object\); hoist runs without swarm: give it a file, environment or content$`},
	} {
		t.Run(name, func(t *testing.T) {
			err := loadString(t, c.yaml)
			if err == nil || !regexp.MustCompile(c.want).MatchString(err.Error()) {
				t.Errorf("error %v\nwant %s", err, c.want)
			}
		})
	}
}

// compose-go's warnings reach Options.Warn as located lines, each once,
// in the file's order, instead of logrus's lines on stderr; ModelOnly turns missing inputs
// into warnings and keeps what would be refused otherwise.
func TestLoadWarnings(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "compose.yaml")
	yaml := "version: \"3\"\nservices:\n  web:\n    image: x\n  db:\n    image: y\n    environment:\n      A: $${LITERAL}\n      B: ${UNSET_FOR_TEST}\n      C: ${UNSET_FOR_TEST}\n    privileged: yes\n    build: ./nope\n"
	if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []string
	o := Options{Files: []string{f}, Name: "t", ModelOnly: true, Warn: func(e *Error) {
		got = append(got, strings.ReplaceAll(strings.ReplaceAll(e.Error(), f, "compose.yaml"), dir, "DIR"))
	}}
	if _, err := Load(context.Background(), o); err != nil {
		t.Fatalf("load with ModelOnly: %v", err)
	}
	want := []string{
		"compose.yaml:1: the attribute `version` is obsolete and ignored; remove it",
		`compose.yaml:9: service "db": variable UNSET_FOR_TEST is not set, so it is an empty string; set it in the environment or in .env, or give a default: ${UNSET_FOR_TEST:-value}`,
		`compose.yaml:11: service "db": "yes" is a boolean only in YAML 1.1; write true`,
		`compose.yaml:12: service "db": build context DIR/nope does not exist or is not a directory; fix build.context (it is relative to the compose file)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	o.ModelOnly = false
	if _, err := Load(context.Background(), o); err == nil || !strings.Contains(err.Error(), "build context") {
		t.Errorf("load without ModelOnly: %v, want the missing build context refused", err)
	}
}

func TestMentionsVariable(t *testing.T) {
	for s, want := range map[string]bool{
		"$NAME": true, "${NAME}": true, "x${NAME:-d}": true, "${NAME?e}": true, "a $NAME b": true,
		"$NAMEX": false, "${NAMEX}": false, "$$NAME": false, "$${NAME}": false, "NAME": false, "$$$NAME": true,
	} {
		if got := mentionsVariable(s, "NAME"); got != want {
			t.Errorf("mentionsVariable(%q) = %v, want %v", s, got, want)
		}
	}
}
